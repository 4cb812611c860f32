#!/usr/bin/python3
"""Reference VideoMAE forward pass for model_test (run with Debian's torch).

A small re-implementation of the authors' architecture (MCG-NJU/VideoMAE
modeling_pretrain.py / modeling_finetune.py, and the decode_mask argument of
OpenGVLab/VideoMAEv2), written from its published math, with the authors'
module names so that their state-dict keys come out. The C++ test writes the
weights of its own model and the inputs as raw little-endian files; this
script loads the weights with load_state_dict(strict=True) (so the key sets
and shapes must match exactly), runs the forward pass in eval mode and writes
the output as raw float32.

Usage: videomae_reference.py WORKDIR
WORKDIR/config.txt   "key value" lines (ints, floats, strings)
WORKDIR/weights.txt  "name dim0 dim1 ..." per tensor, in file order
WORKDIR/weights.bin  those tensors as float32, concatenated
WORKDIR/x.bin        the clip, float32 [B, C, T, H, W]
WORKDIR/mask.bin     uint8 [B, N] (pretrain only)
WORKDIR/decoder_mask.bin  uint8 [B, N] (optional, pretrain only)
Writes WORKDIR/out.bin (float32), WORKDIR/out_shape.txt and WORKDIR/keys.txt.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoid_table(n_position, d_hid):
    table = np.array([[pos / np.power(10000, 2 * (j // 2) / d_hid) for j in range(d_hid)]
                      for pos in range(n_position)])
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return torch.tensor(table, dtype=torch.float).unsqueeze(0)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        return self.drop(self.fc2(self.act(self.fc1(x))))


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x):
        B, N, _ = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias, requires_grad=False),
                          self.v_bias))
        qkv = F.linear(input=x, weight=self.qkv.weight, bias=bias)
        qkv = qkv.reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * self.scale
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        attn = self.attn_drop(attn)
        x = (attn @ v).transpose(1, 2).reshape(B, N, -1)
        return self.proj_drop(self.proj(x))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.drop_path = nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x


class PatchEmbed(nn.Module):
    def __init__(self, cfg, dim):
        super().__init__()
        t, p = cfg['tubelet_size'], cfg['patch_size']
        self.proj = nn.Conv3d(cfg['in_chans'], dim, kernel_size=(t, p, p), stride=(t, p, p))

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


def num_patches(cfg):
    return ((cfg['num_frames'] // cfg['tubelet_size']) *
            (cfg['image_size'] // cfg['patch_size']) ** 2)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim = cfg['embed_dim']
        self.patch_embed = PatchEmbed(cfg, dim)
        self.pos_embed = sinusoid_table(num_patches(cfg), dim)
        self.blocks = nn.ModuleList([Block(dim, cfg['num_heads'], cfg['mlp_ratio'])
                                     for _ in range(cfg['depth'])])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Identity()

    def forward(self, x, mask):
        x = self.patch_embed(x)
        x = x + self.pos_embed.type_as(x).to(x.device).clone().detach()
        B, _, C = x.shape
        x_vis = x[~mask].reshape(B, -1, C)
        for blk in self.blocks:
            x_vis = blk(x_vis)
        return self.head(self.norm(x_vis))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim = cfg['decoder_embed_dim']
        out = 3 * cfg['tubelet_size'] * cfg['patch_size'] ** 2
        self.blocks = nn.ModuleList([Block(dim, cfg['decoder_num_heads'], cfg['mlp_ratio'])
                                     for _ in range(cfg['decoder_depth'])])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, out)

    def forward(self, x, return_token_num):
        for blk in self.blocks:
            x = blk(x)
        if return_token_num > 0:
            return self.head(self.norm(x[:, -return_token_num:]))
        return self.head(self.norm(x))


class PretrainVisionTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.encoder_to_decoder = nn.Linear(cfg['embed_dim'], cfg['decoder_embed_dim'],
                                            bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg['decoder_embed_dim']))
        self.pos_embed = sinusoid_table(num_patches(cfg), cfg['decoder_embed_dim'])

    def forward(self, x, mask, decode_mask=None):
        decode_vis = mask if decode_mask is None else ~decode_mask
        x_vis = self.encoder_to_decoder(self.encoder(x, mask))
        B, _, C = x_vis.shape
        expand_pos_embed = self.pos_embed.expand(B, -1, -1).type_as(x).to(x.device).clone().detach()
        pos_emd_vis = expand_pos_embed[~mask].reshape(B, -1, C)
        pos_emd_mask = expand_pos_embed[decode_vis].reshape(B, -1, C)
        x_full = torch.cat([x_vis + pos_emd_vis, self.mask_token + pos_emd_mask], dim=1)
        return self.decoder(x_full, pos_emd_mask.shape[1])


class VisionTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim = cfg['embed_dim']
        self.patch_embed = PatchEmbed(cfg, dim)
        self.pos_embed = sinusoid_table(num_patches(cfg), dim)
        self.pos_drop = nn.Dropout(0.0)
        self.blocks = nn.ModuleList([Block(dim, cfg['num_heads'], cfg['mlp_ratio'])
                                     for _ in range(cfg['depth'])])
        mean_pool = cfg['use_mean_pooling'] != 0
        self.norm = nn.Identity() if mean_pool else nn.LayerNorm(dim, eps=1e-6)
        self.fc_norm = nn.LayerNorm(dim, eps=1e-6) if mean_pool else None
        self.fc_dropout = nn.Identity()
        self.head = nn.Linear(dim, cfg['num_classes'])

    def forward(self, x):
        x = self.patch_embed(x)
        B, _, _ = x.size()
        x = x + self.pos_embed.expand(B, -1, -1).type_as(x).to(x.device).clone().detach()
        x = self.pos_drop(x)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        x = self.fc_norm(x.mean(1)) if self.fc_norm is not None else x[:, 0]
        return self.head(self.fc_dropout(x))


def read_config(path):
    cfg = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            key, value = line.split()
            for cast in (int, float):
                try:
                    cfg[key] = cast(value)
                    break
                except ValueError:
                    pass
            else:
                cfg[key] = value
    return cfg


def read_weights(workdir):
    raw = np.fromfile(os.path.join(workdir, 'weights.bin'), dtype='<f4')
    state, offset = {}, 0
    with open(os.path.join(workdir, 'weights.txt')) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            shape = [int(s) for s in parts[1:]]
            count = int(np.prod(shape)) if shape else 1
            state[parts[0]] = torch.from_numpy(raw[offset:offset + count].copy()).reshape(shape)
            offset += count
    assert offset == raw.size, (offset, raw.size)
    return state


def main():
    workdir = sys.argv[1]
    torch.set_num_threads(1)
    cfg = read_config(os.path.join(workdir, 'config.txt'))
    model = (PretrainVisionTransformer(cfg) if cfg['mode'] == 'pretrain'
             else VisionTransformer(cfg))
    model.load_state_dict(read_weights(workdir), strict=True)
    model.eval()
    with open(os.path.join(workdir, 'keys.txt'), 'w') as f:
        for key in model.state_dict().keys():
            f.write(key + '\n')

    B = cfg['batch']
    x = torch.from_numpy(np.fromfile(os.path.join(workdir, 'x.bin'), dtype='<f4').copy())
    x = x.reshape(B, cfg['in_chans'], cfg['num_frames'], cfg['image_size'], cfg['image_size'])
    with torch.no_grad():
        if cfg['mode'] == 'pretrain':
            def read_mask(name):
                m = np.fromfile(os.path.join(workdir, name), dtype=np.uint8)
                return torch.from_numpy(m.copy()).reshape(B, -1).to(torch.bool)
            mask = read_mask('mask.bin')
            decode_mask = None
            if os.path.exists(os.path.join(workdir, 'decoder_mask.bin')):
                decode_mask = read_mask('decoder_mask.bin')
            out = model(x, mask, decode_mask)
        else:
            out = model(x)
    out = out.contiguous().float()
    out.numpy().astype('<f4').tofile(os.path.join(workdir, 'out.bin'))
    with open(os.path.join(workdir, 'out_shape.txt'), 'w') as f:
        f.write(' '.join(str(s) for s in out.shape) + '\n')


if __name__ == '__main__':
    main()
