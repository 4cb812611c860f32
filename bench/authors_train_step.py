#!/usr/bin/python3
"""Baseline for `vmae bench`: the authors' VideoMAE training step on CPU.

Runs the training step of MCG-NJU/VideoMAE engine_for_pretraining.py or
engine_for_finetuning.py (train_one_epoch) with the authors' modules (the
re-implementation in tests/worker/model/videomae_reference.py, which keeps
their names and math), on random data, and prints clips/s as one JSON line.
One pre-training step (--mode pretrain) is:

  with no_grad: un-normalise, rearrange into tubelet patches, normalise each
      patch and channel by its mean and unbiased std (+1e-6), select the
      masked tokens as labels;
  outputs = model(videos, bool_masked_pos); loss = MSELoss(outputs, labels);
  optimizer.zero_grad(); loss.backward(); grad norm (their
  NativeScalerWithGradNormCount computes it even without clipping);
  AdamW step (betas 0.9/0.95, their decay / no_decay parameter groups).

The tube mask is drawn by the data loader in their code, so outside the
timed step here too. One fine-tuning step (--mode finetune, no mixup) is:

  outputs = model(samples); loss = CrossEntropyLoss(outputs, targets);
  optimizer.zero_grad(); loss.backward(); grad norm; AdamW step.

Run with Debian's torch:
  /usr/bin/python3 bench/authors_train_step.py --threads 2 [--mode finetune]
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'worker', 'model'))
import videomae_reference as ref  # noqa: E402  (the authors' module names and math)

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)

ARCHS = {
    'vit_small': dict(embed_dim=384, depth=12, num_heads=6, decoder_embed_dim=192,
                      decoder_num_heads=3),
    'vit_base': dict(embed_dim=768, depth=12, num_heads=12, decoder_embed_dim=384,
                     decoder_num_heads=6),
}


def rearrange_patches(unnorm_videos, p0, p):
    """einops 'b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c' (einops is not installed)."""
    b, c, t, h, w = unnorm_videos.shape
    x = unnorm_videos.reshape(b, c, t // p0, p0, h // p, p, w // p, p)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(b, (t // p0) * (h // p) * (w // p), p0 * p * p, c)


def get_parameter_groups(model, weight_decay=0.05, skip_list=('mask_token',)):
    """optim_factory.get_parameter_groups without layer decay."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if len(param.shape) == 1 or name.endswith('.bias') or name in skip_list:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{'params': decay, 'weight_decay': weight_decay},
            {'params': no_decay, 'weight_decay': 0.0}]


def get_grad_norm_(parameters, norm_type=2.0):
    """utils.get_grad_norm_ (the authors' loss scaler calls it every step)."""
    parameters = [p for p in parameters if p.grad is not None]
    return torch.norm(torch.stack([torch.norm(p.grad.detach(), norm_type)
                                   for p in parameters]), norm_type)


def tube_mask(grid_t, grid_hw, ratio, rng):
    """TubeMaskingGenerator: one shuffled spatial mask repeated over time."""
    num_masks = int(ratio * grid_hw)
    m = np.hstack([np.zeros(grid_hw - num_masks), np.ones(num_masks)])
    rng.shuffle(m)
    return np.tile(m, (grid_t, 1)).flatten()


def optimize(model, optimizer, loss):
    """Both engines' tail of a step: backward, their grad-norm, AdamW."""
    optimizer.zero_grad()
    loss.backward()
    get_grad_norm_(model.parameters())
    optimizer.step()
    return loss.item()


def pretrain_step(model, args):
    """engine_for_pretraining.train_one_epoch's body for one batch."""
    model.train()
    optimizer = torch.optim.AdamW(get_parameter_groups(model), lr=1.5e-4 * args.batch / 256,
                                  betas=(0.9, 0.95), eps=1e-8)
    loss_func = nn.MSELoss()
    patch_size, p0 = 16, 2
    grid_t, grid_hw = args.frames // 2, (args.image_size // 16) ** 2

    rng = np.random.RandomState(0)
    videos = torch.randn(args.batch, 3, args.frames, args.image_size, args.image_size)
    bool_masked_pos = torch.from_numpy(np.stack(
        [tube_mask(grid_t, grid_hw, args.mask_ratio, rng) for _ in range(args.batch)])).to(
            torch.bool)

    def step():
        with torch.no_grad():
            mean = torch.as_tensor(IMAGENET_DEFAULT_MEAN)[None, :, None, None, None]
            std = torch.as_tensor(IMAGENET_DEFAULT_STD)[None, :, None, None, None]
            unnorm_videos = videos * std + mean
            videos_squeeze = rearrange_patches(unnorm_videos, p0, patch_size)
            videos_norm = (videos_squeeze - videos_squeeze.mean(dim=-2, keepdim=True)) / (
                videos_squeeze.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
            b, n = videos_norm.shape[:2]
            videos_patch = videos_norm.reshape(b, n, -1)  # 'b n p c -> b n (p c)'
            B, _, C = videos_patch.shape
            labels = videos_patch[bool_masked_pos].reshape(B, -1, C)
        outputs = model(videos, bool_masked_pos)
        return optimize(model, optimizer, loss_func(input=outputs, target=labels))
    return step


def finetune_step(model, args):
    """engine_for_finetuning.train_one_epoch's body for one batch (no mixup)."""
    model.train()
    optimizer = torch.optim.AdamW(get_parameter_groups(model, skip_list=()),
                                  lr=1e-3 * args.batch / 256, betas=(0.9, 0.999), eps=1e-8)
    criterion = nn.CrossEntropyLoss()
    samples = torch.randn(args.batch, 3, args.frames, args.image_size, args.image_size)
    targets = torch.randint(args.num_classes, (args.batch,))

    def step():
        return optimize(model, optimizer, criterion(model(samples), targets))
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mode', default='pretrain', choices=['pretrain', 'finetune'])
    parser.add_argument('--arch', default='vit_small', choices=sorted(ARCHS))
    parser.add_argument('--num-classes', type=int, default=400)
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--image-size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--mask-ratio', type=float, default=0.9)
    parser.add_argument('--decoder-depth', type=int, default=4)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--steps', type=int, default=5)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = dict(ARCHS[args.arch], mlp_ratio=4.0, patch_size=16, tubelet_size=2,
               num_frames=args.frames, image_size=args.image_size, in_chans=3,
               decoder_depth=args.decoder_depth)
    if args.mode == 'pretrain':
        model = ref.PretrainVisionTransformer(cfg)
        step = pretrain_step(model, args)
    else:
        model = ref.VisionTransformer(dict(cfg, use_mean_pooling=1,
                                           num_classes=args.num_classes))
        step = finetune_step(model, args)

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(json.dumps({
        'impl': 'authors_pytorch', 'mode': args.mode, 'torch': torch.__version__, 'arch': args.arch,
        'frames': args.frames, 'image_size': args.image_size, 'batch': args.batch,
        'mask_ratio': args.mask_ratio, 'decoder_depth': args.decoder_depth,
        'threads': args.threads, 'steps': args.steps,
        'step_s_median': median, 'step_s_min': min(times), 'step_s_max': max(times),
        'clips_per_s': args.batch / median,
    }))


if __name__ == '__main__':
    main()
