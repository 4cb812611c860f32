#!/usr/bin/python3
"""Fixtures for the `vmae` tool tests, made with Debian's torch.

Builds tiny models with the authors' module structure (the classes of
tests/worker/model/videomae_reference.py), fills every parameter with
random values, saves them as the authors' training scripts do
(`torch.save({'model': ..., 'args': Namespace, 'epoch': n})`), and writes a
clip, a tube mask and the outputs the authors' forward pass gives for them.
The C++ tests compare `vmae reconstruct` / `vmae predict` against these.

Usage: make_tool_fixtures.py OUTDIR
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'model'))
import videomae_reference as ref  # noqa: E402

CFG = dict(embed_dim=32, depth=2, num_heads=2, mlp_ratio=4.0, patch_size=8, tubelet_size=2,
           num_frames=4, image_size=16, in_chans=3, decoder_embed_dim=16, decoder_depth=1,
           decoder_num_heads=2, num_classes=5, use_mean_pooling=1)

MODEL_YAML = """arch: custom
embed_dim: 32
depth: 2
num_heads: 2
patch_size: 8
tubelet_size: 2
num_frames: 4
image_size: 16
decoder_embed_dim: 16
decoder_depth: 1
decoder_num_heads: 2
num_classes: 5
"""


def randomize(model, gen):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1234)

    pretrain = ref.PretrainVisionTransformer(CFG).eval()
    randomize(pretrain, gen)
    classifier = ref.VisionTransformer(CFG).eval()
    randomize(classifier, gen)

    args = argparse.Namespace(model='pretrain_videomae_custom', mask_ratio=0.75, lr=1.5e-4)
    torch.save({'model': pretrain.state_dict(), 'args': args, 'epoch': 3},
               os.path.join(out, 'pretrain.pth'))
    torch.save({'module': classifier.state_dict(), 'args': args, 'epoch': 7},
               os.path.join(out, 'finetune.pth'))

    batch = 2
    clip = torch.randn(batch, 3, CFG['num_frames'], CFG['image_size'], CFG['image_size'],
                       generator=gen)
    # Tube mask: the same 3 of the 4 spatial positions hidden in both slices.
    grid = (CFG['num_frames'] // CFG['tubelet_size'], (CFG['image_size'] // CFG['patch_size']) ** 2)
    spatial = torch.zeros(batch, grid[1], dtype=torch.bool)
    spatial[0, [0, 1, 3]] = True
    spatial[1, [1, 2, 3]] = True
    mask = spatial.unsqueeze(1).expand(batch, grid[0], grid[1]).reshape(batch, -1).contiguous()
    torch.save(clip, os.path.join(out, 'clip.pt'))
    torch.save(mask, os.path.join(out, 'mask.pt'))
    with torch.no_grad():
        torch.save(pretrain(clip, mask).contiguous(), os.path.join(out, 'expected_recon.pt'))
        torch.save(classifier(clip).contiguous(), os.path.join(out, 'expected_logits.pt'))
    with open(os.path.join(out, 'model.yaml'), 'w') as f:
        f.write(MODEL_YAML)
    with open(os.path.join(out, 'param_counts.txt'), 'w') as f:
        f.write('%d %d\n' % (sum(p.numel() for p in pretrain.parameters()),
                             sum(p.numel() for p in classifier.parameters())))


if __name__ == '__main__':
    main()
