// A rectangle of a frame, in source pixels. Shared by the evaluation crops
// (sampling/) and the training crops (augment/crop_params.h).
#ifndef VMAE_WORKER_DATA_SAMPLING_CROP_BOX_H_
#define VMAE_WORKER_DATA_SAMPLING_CROP_BOX_H_

namespace vmae::data {

struct CropBox {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

inline bool operator==(const CropBox& a, const CropBox& b) {
  return a.x == b.x && a.y == b.y && a.width == b.width && a.height == b.height;
}

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_SAMPLING_CROP_BOX_H_
