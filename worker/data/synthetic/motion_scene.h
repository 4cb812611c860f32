// One generated video of the motion data set: a scene (textured background
// and shapes) and a class's motion, rendered frame by frame to RGB.
//
// Class scheme, for K classes numbered k = 0..K-1:
//   * every class has its own direction, angle 2*pi*k/K counter-clockwise
//     from "rightwards" (so "up" is pi/2, screen y pointing down);
//   * classes k < ceil(K/2) move one way at a constant speed ("oneway");
//   * the others move back and forth along their direction at the same
//     constant speed ("backforth"), turning every kBackAndForthPeriod / 2
//     frames; the first quarter period goes along the angle. Constant speed
//     keeps every pair of consecutive frames different, so the classes also
//     share their speed statistics and only the direction pattern differs.
// The scene depends only on the seed and the video's number, never on the
// class: video n of every class shows the same background and the same shapes
// at the same start positions, so the first frame is identical across
// classes and only motion tells them apart. Shapes wrap around the frame
// edges (the scene is a torus), so positions stay uniform over time and give
// no cue either.
//
// Thread-safe: everything here is a pure function of its arguments.
#ifndef VMAE_WORKER_DATA_SYNTHETIC_MOTION_SCENE_H_
#define VMAE_WORKER_DATA_SYNTHETIC_MOTION_SCENE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace vmae::synthetic {

// Frames per back-and-forth cycle. A multiple of 4, so the turns fall on
// whole frames and consecutive frames always differ; not a multiple of the
// usual clip sampling strides (2, 4, 8), so a clip sampled with stride s
// repeats a position only across a turn and is never static unless s is a
// multiple of 20.
inline constexpr double kBackAndForthPeriod = 20;

// How many dots a scene has.
inline constexpr int kMinShapes = 100;
inline constexpr int kMaxShapes = 140;

struct Shape {
  bool square = false;
  double x0 = 0, y0 = 0;  // centre at frame 0, pixels
  double radius = 0;      // disc radius or half the square's side, pixels
  double speed = 0;       // pixels per frame
  uint8_t color[3] = {0, 0, 0};
};

struct Scene {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> background;  // RGB24, width * height * 3
  std::vector<Shape> shapes;        // kMinShapes to kMaxShapes, drawn in order
};

struct Motion {
  double angle = 0;  // radians, counter-clockwise from rightwards
  bool back_and_forth = false;
  // Colour drift, gray levels per frame, 0 for none: the whole frame's
  // chroma moves along `angle` in the (Cb, Cr) plane with the same one-way or
  // back-and-forth pattern as the shapes, starting from no offset at frame
  // 0 (so the first frame still tells nothing). A cue that a small ViT
  // learns in minutes: one linear function of a tubelet's two frames reads
  // it anywhere in the frame, whereas the shapes' direction needs features
  // that a model trained for minutes on two CPU cores does not learn.
  double tint_rate = 0;
};

// A smooth random texture (a sum of plane waves per channel) and 24-40 small
// discs or squares with random colours (at least 60 gray levels brighter than
// the background on average, so they show in gray too), sizes (radius 2-3.5%
// of the short side), start positions and speeds (2-3% of the short side per
// frame).
Scene MakeScene(uint64_t seed, int width, int height);

// Class k of `num_classes` (see the scheme above), with `tint_rate` (see
// Motion).
Motion ClassMotion(int k, int num_classes, double tint_rate = 0);

// "oneway_000deg", "backforth_180deg", ...: the motion, readable.
std::string ClassName(int k, int num_classes);

// Frame `t` of `scene` moving with `motion`, as RGB24 into `rgb` (resized to
// width * height * 3). Shape edges are anti-aliased, so sub-pixel motion shows.
void RenderFrame(const Scene& scene, const Motion& motion, int t, std::vector<uint8_t>* rgb);

}  // namespace vmae::synthetic

#endif  // VMAE_WORKER_DATA_SYNTHETIC_MOTION_SCENE_H_
