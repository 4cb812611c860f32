// Activation checkpointing for one tensor-to-tensor function (a block).
#ifndef VMAE_WORKER_MODEL_ACTIVATION_CHECKPOINT_H_
#define VMAE_WORKER_MODEL_ACTIVATION_CHECKPOINT_H_

#include <ATen/Tensor.h>

#include <functional>

namespace vmae::model {

using TensorFn = std::function<at::Tensor(const at::Tensor&)>;

// Returns fn(x) but keeps none of fn's intermediate activations: the
// backward pass runs fn again with grad enabled and back-propagates through
// the recomputation (the reentrant torch.utils.checkpoint scheme). Gradients
// of the parameters used by fn accumulate into their .grad as usual. The CPU
// generator state, and that of x's device, are saved before the forward and
// restored for the recomputation, so dropout and drop-path draw the same
// numbers twice (the generator state after backward is left as it was).
// Without grad mode, or when x does not require grad, this is just fn(x).
// `fn` must stay valid until backward has run (it is captured by copy).
at::Tensor CheckpointedForward(const TensorFn& fn, const at::Tensor& x);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_ACTIVATION_CHECKPOINT_H_
