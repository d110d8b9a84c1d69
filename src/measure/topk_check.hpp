// Independent re-derivation of a router's top-k for verification: logits x . Wr + bias(step) in
// double from the Router's public weights and bias, scores (softmax or sigmoid) in double, then
// group-limited selection by sorting (not gating/topk.cpp's streaming selection). The router
// computes in fp32, so near-ties may legitimately differ: its choice is accepted when no expert
// (or group) it left out scores above one it kept by more than both scores' rounding
// uncertainty, and its weights equal the (normalized) scores of its experts up to rounding.
#pragma once

#include <cstdint>
#include <vector>

#include "gating/router.hpp"

namespace epbench {

class TopkRederiver {
 public:
  TopkRederiver(const gating::Router& router, int step);
  // x: one token ([hidden]); ids / weights: the router's [top_k] choice for it.
  bool matches(const float* x, const int32_t* ids, const float* weights) const;

 private:
  const gating::Router& router_;
  std::vector<float> bias_;
};

}  // namespace epbench
