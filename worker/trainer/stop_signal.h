// SIGTERM as a request to stop at the next step boundary (pause, node
// drain): the handler only sets a flag; the training loop votes on it with
// the other ranks so that all of them stop after the same step.
#ifndef VMAE_WORKER_TRAINER_STOP_SIGNAL_H_
#define VMAE_WORKER_TRAINER_STOP_SIGNAL_H_

namespace vmae::trainer {

// Installs the SIGTERM (and SIGINT) handler. Idempotent.
void InstallStopHandler();
// True once SIGTERM or SIGINT arrived.
bool StopRequested();

}  // namespace vmae::trainer

#endif  // VMAE_WORKER_TRAINER_STOP_SIGNAL_H_
