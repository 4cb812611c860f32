// The sampling library in one include: training frame samplers
// (train_sampling.h) and evaluation views (test_views.h).
#ifndef VMAE_WORKER_DATA_SAMPLING_FRAME_SAMPLING_H_
#define VMAE_WORKER_DATA_SAMPLING_FRAME_SAMPLING_H_

#include "worker/data/sampling/test_views.h"      // IWYU pragma: export
#include "worker/data/sampling/train_sampling.h"  // IWYU pragma: export

#endif  // VMAE_WORKER_DATA_SAMPLING_FRAME_SAMPLING_H_
