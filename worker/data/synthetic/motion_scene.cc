#include "worker/data/synthetic/motion_scene.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "worker/data/synthetic/splitmix.h"

namespace vmae::synthetic {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kWaves = 4;

// Shapes are brighter than the mean background by at least this much (0-255
// scale). Always brighter, never darker: with one polarity the direction of
// motion is a linear function of a tubelet's two frames (see MakeScene);
// with both polarities mixed, such a function averages out.
constexpr double kMinLumaContrast = 60;

// BT.601 brightness of an RGB pixel.
double Luma(const uint8_t* rgb) { return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]; }

uint8_t ClampByte(double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0))); }

// How much of the pixel centred at (px, py) the shape covers, 0 to 1: a
// one-pixel linear ramp across the edge.
double Coverage(const Shape& s, double dx, double dy) {
  if (s.square) {
    const double cx = std::clamp(s.radius + 0.5 - std::abs(dx), 0.0, 1.0);
    const double cy = std::clamp(s.radius + 0.5 - std::abs(dy), 0.0, 1.0);
    return cx * cy;
  }
  return std::clamp(s.radius + 0.5 - std::hypot(dx, dy), 0.0, 1.0);
}

// `v` wrapped into [0, size).
double Wrap(double v, int size) { return v - size * std::floor(v / size); }

}  // namespace

Scene MakeScene(uint64_t seed, int width, int height) {
  SplitMixRng rng(seed);
  Scene scene;
  scene.width = width;
  scene.height = height;

  struct Wave {
    double fx, fy, phase, amplitude[3];
  };
  Wave waves[kWaves];
  double base[3];
  // A darker background than the shapes can always outshine.
  for (double& b : base) b = rng.Uniform(40, 120);
  for (Wave& w : waves) {
    // 0.5 to 4 cycles across the frame in a random orientation: smooth.
    const double cycles = rng.Uniform(0.5, 4.0);
    const double theta = rng.Uniform(0, 2 * kPi);
    w.fx = cycles * std::cos(theta) / width;
    w.fy = cycles * std::sin(theta) / height;
    w.phase = rng.Uniform(0, 2 * kPi);
    for (double& a : w.amplitude) a = rng.Uniform(4, 14);
  }
  scene.background.resize(static_cast<size_t>(width) * height * 3);
  double luma_sum = 0;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      double v[3] = {base[0], base[1], base[2]};
      for (const Wave& w : waves) {
        const double s = std::sin(2 * kPi * (w.fx * x + w.fy * y) + w.phase);
        for (int c = 0; c < 3; ++c) v[c] += w.amplitude[c] * s;
      }
      uint8_t* px = &scene.background[(static_cast<size_t>(y) * width + x) * 3];
      for (int c = 0; c < 3; ++c) px[c] = ClampByte(v[c]);
      luma_sum += Luma(px);
    }
  }
  const double background_luma = luma_sum / (static_cast<double>(width) * height);

  // A field of small dots, each smaller than a 16x16 patch: a dot that stays
  // inside a patch between two frames shifts the patch's brightness-weighted
  // centroid by exactly its displacement, so the direction of motion is a
  // linear function of a tubelet (with a few large shapes only their edges
  // move, and direction needs products of spatial and temporal gradients).
  // Even so, the demo's 4-block ViT fine-tuned for minutes on two cores
  // stayed at chance on motion alone, as did a PyTorch ViT trained on the
  // very clips vmae fed it; the colour drift (Motion::tint_rate) is the cue
  // it learns.
  const double short_side = std::min(width, height);
  const int num_shapes = rng.Int(kMinShapes, kMaxShapes);
  for (int i = 0; i < num_shapes; ++i) {
    Shape s;
    s.square = rng.Int(0, 1) == 1;
    s.x0 = rng.Uniform(0, width);
    s.y0 = rng.Uniform(0, height);
    s.radius = rng.Uniform(0.015, 0.025) * short_side;
    s.speed = rng.Uniform(0.015, 0.02) * short_side;
    // A colour brighter than the background, so the shape shows in gray
    // too; redrawn (deterministically) until it is.
    for (int attempt = 0; attempt < 64; ++attempt) {
      for (uint8_t& c : s.color) c = static_cast<uint8_t>(rng.Int(0, 255));
      if (Luma(s.color) - background_luma >= kMinLumaContrast) break;
      if (attempt == 63) std::fill_n(s.color, 3, 255);
    }
    scene.shapes.push_back(s);
  }
  return scene;
}

Motion ClassMotion(int k, int num_classes, double tint_rate) {
  Motion m;
  m.angle = 2 * kPi * k / num_classes;
  m.back_and_forth = k >= (num_classes + 1) / 2;
  m.tint_rate = tint_rate;
  return m;
}

std::string ClassName(int k, int num_classes) {
  const Motion m = ClassMotion(k, num_classes);
  char name[32];
  std::snprintf(name, sizeof(name), "%s_%03ddeg", m.back_and_forth ? "backforth" : "oneway",
                static_cast<int>(std::lround(m.angle * 180 / kPi)) % 360);
  return name;
}

void RenderFrame(const Scene& scene, const Motion& motion, int t, std::vector<uint8_t>* rgb) {
  const int w = scene.width;
  const int h = scene.height;
  *rgb = scene.background;
  const double ux = std::cos(motion.angle);
  const double uy = -std::sin(motion.angle);  // screen y points down
  // Signed distance along the direction at frame t at unit speed: a ramp, or
  // a triangle wave (0 at t = 0, out a quarter period, back through 0, and so
  // on).
  const double p = kBackAndForthPeriod;
  const double unit =
      motion.back_and_forth ? p / 4 - std::abs(std::fmod(t + p / 4, p) - p / 2) : t;
  for (const Shape& s : scene.shapes) {
    const double d = s.speed * unit;
    const double cx = Wrap(s.x0 + d * ux, w);
    const double cy = Wrap(s.y0 + d * uy, h);
    // Unwrapped pixel coordinates around the centre; indices wrap, so a
    // shape leaving one edge shows at the opposite one.
    const int reach = static_cast<int>(std::ceil(s.radius)) + 2;
    const int x_lo = static_cast<int>(std::floor(cx)) - reach;
    const int y_lo = static_cast<int>(std::floor(cy)) - reach;
    for (int iy = y_lo; iy <= y_lo + 2 * reach; ++iy) {
      for (int ix = x_lo; ix <= x_lo + 2 * reach; ++ix) {
        const double cover = Coverage(s, ix - cx, iy - cy);
        if (cover <= 0) continue;
        const int px = ((ix % w) + w) % w;
        const int py = ((iy % h) + h) % h;
        uint8_t* p = &(*rgb)[(static_cast<size_t>(py) * w + px) * 3];
        for (int c = 0; c < 3; ++c) p[c] = ClampByte(p[c] * (1 - cover) + s.color[c] * cover);
      }
    }
  }
  if (motion.tint_rate != 0 && t != 0) {
    // A chroma offset (Cb, Cr) along the angle, as RGB through BT.601's
    // inverse (luma unchanged).
    const double cb = motion.tint_rate * unit * std::cos(motion.angle);
    const double cr = motion.tint_rate * unit * std::sin(motion.angle);
    const double offset[3] = {1.402 * cr, -0.344136 * cb - 0.714136 * cr, 1.772 * cb};
    for (size_t i = 0; i < rgb->size(); ++i) {
      (*rgb)[i] = ClampByte((*rgb)[i] + offset[i % 3]);
    }
  }
}

}  // namespace vmae::synthetic
