"""Writes the .pth fixtures for worker_checkpoint_test into argv[1].

argv[2] (default argv[1]) is the directory the hostile fixtures' marker
file names: `touch <argv[2]>/pwned` would run if a reader executed them.

Run with Debian's Python torch (/usr/bin/python3). Every tensor the C++ test
compares is also written as raw little-endian values (`<name>.f32` as float32,
`<name>.i64` as int64) straight from numpy: an expectation that does not go
through torch.save. Hostile files are assembled by hand with zipfile.
"""

import argparse
import collections
import os
import struct
import sys
import zipfile

import numpy as np
import torch

out = sys.argv[1]
marker_dir = sys.argv[2] if len(sys.argv) > 2 else out


def path(name):
    return os.path.join(out, name)


def raw_f32(name, t):
    t.detach().to(torch.float32).contiguous().numpy().astype('<f4').tofile(path(name + '.f32'))


def raw_i64(name, t):
    t.detach().contiguous().numpy().astype('<i8').tofile(path(name + '.i64'))


torch.manual_seed(0)

# A plain dict of tensors (float32, int64, a 0-d tensor, an empty tensor).
plain = {
    'a': torch.randn(2, 3),
    'b': torch.arange(5, dtype=torch.int64) - 2,
    'c': torch.tensor(7.5),
    'empty': torch.zeros(0, 4),
}
torch.save(plain, path('plain.pth'))
raw_f32('plain.a', plain['a'])
raw_i64('plain.b', plain['b'])
# The same dict with pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL, ...).
torch.save(plain, path('proto4.pth'), pickle_protocol=4)


# A module's state dict: an OrderedDict with `_metadata`, buffers included.
class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.bn = torch.nn.BatchNorm1d(4)
        self.register_buffer('pos', torch.linspace(0, 1, 6).reshape(2, 3))


m = Small()
sd = m.state_dict()
assert hasattr(sd, '_metadata')
torch.save(sd, path('state_dict.pth'))
for k, v in sd.items():
    if v.dtype == torch.int64:
        raw_i64('sd.' + k, v)
    else:
        raw_f32('sd.' + k, v)

# A training checkpoint as the authors' scripts write it.
opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
m.train()
m.bn(m.norm(m.proj(torch.randn(5, 3)))).sum().backward()
opt.step()
sd = m.state_dict()
for k, v in sd.items():
    if v.dtype == torch.int64:
        raw_i64('ckpt.' + k, v)
    else:
        raw_f32('ckpt.' + k, v)
ns = argparse.Namespace(lr=1e-3, name='x', seed=2**70, ratio=np.float64(0.9),
                        frames=np.arange(3), tags={'a', 'b'}, raw=b'\x00\xffab')
ckpt = {
    'model': sd,
    'optimizer': opt.state_dict(),
    'epoch': 3,
    'args': ns,
    'scaler': {'scale': 65536.0, '_growth_tracker': 0},
}
torch.save(ckpt, path('train.pth'))
with zipfile.ZipFile(path('train.pth')) as z:
    pkl = [n for n in z.namelist() if n.endswith('data.pkl')][0]
    with open(path('train.data.pkl'), 'wb') as f:
        f.write(z.read(pkl))

# The DDP wrapper's key.
torch.save({'module': sd, 'epoch': 1}, path('module.pth'))

# Nested containers and scalars of every kind.
nested = {
    'outer': {'inner': {'t': torch.ones(2, 2) * 3}},
    'list': [torch.arange(3, dtype=torch.float32), 1, 'two', None],
    'tuple': (1.5, -7, True, False, -2**40, b'bytes', 'text'),
    7: 'int key',
}
torch.save(nested, path('nested.pth'))

# Half precision.
h = torch.randn(3, 5).to(torch.float16)
bf = torch.randn(4).to(torch.bfloat16)
torch.save({'h': h, 'bf': bf, 'flag': torch.tensor([True, False, True])}, path('halves.pth'))
raw_f32('halves.h', h)
raw_f32('halves.bf', bf)

# Views: a transpose (non-contiguous), rows and a block of one storage, and
# the same tensor under two keys (tied weights).
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7
views = {
    't': base.t(),
    'row': base[1],
    'block': base[2:4, 1:3],
    'expand': torch.tensor([2.5]).expand(3, 4),
    'tied_a': base,
    'tied_b': base,
}
torch.save(views, path('views.pth'))
for k, v in views.items():
    raw_f32('views.' + k, v)

# A pre-training checkpoint's names (docs/videomae-reference.md).
pre_names = [
    'encoder.patch_embed.proj.weight', 'encoder.patch_embed.proj.bias',
    'encoder.blocks.0.norm1.weight', 'encoder.blocks.0.attn.qkv.weight',
    'encoder.blocks.0.attn.q_bias', 'encoder.norm.weight', 'encoder.norm.bias',
    'decoder.blocks.0.norm1.weight', 'decoder.norm.weight', 'decoder.head.weight',
    'encoder_to_decoder.weight', 'mask_token',
]
pre = collections.OrderedDict((n, torch.full((2,), float(i))) for i, n in enumerate(pre_names))
torch.save({'model': pre}, path('pretrain.pth'))
torch.save({'model': {'backbone.blocks.0.mlp.fc1.weight': torch.ones(2),
                      'blocks.0.mlp.fc1.weight': torch.zeros(2)}}, path('clash.pth'))

# Weights with a non-tensor entry, and a bare tensor.
torch.save({'model': {'w': torch.ones(1), 'step': 5}}, path('non_tensor.pth'))
torch.save(torch.ones(3), path('bare_tensor.pth'))

# The legacy (pre-1.6, not zip) format.
torch.save({'a': torch.ones(1)}, path('legacy.pth'), _use_new_zipfile_serialization=False)


# --- Hand-assembled files -------------------------------------------------
def s(text):
    b = text.encode()
    return b'X' + struct.pack('<I', len(b)) + b


def storage_pid(cls, key, numel):
    return (b'(' + s('storage') + b'ctorch\n' + cls + b'\n' + s(key) + s('cpu') +
            b'J' + struct.pack('<i', numel) + b'tQ')


def rebuild(pid, offset, size, stride):
    def tup(xs):
        return b'(' + b''.join(b'J' + struct.pack('<i', x) for x in xs) + b't'
    return (b'ctorch._utils\n_rebuild_tensor_v2\n(' + pid + b'J' + struct.pack('<i', offset) +
            tup(size) + tup(stride) + b'\x89ccollections\nOrderedDict\n)Rt' + b'R')


def write_zip(name, records, folder='archive'):
    with zipfile.ZipFile(path(name), 'w', zipfile.ZIP_STORED) as z:
        for rec, data in records:
            z.writestr(folder + '/' + rec, data)


marker = os.path.join(marker_dir, 'pwned')
evil = (b'\x80\x02}(' + s('model') + b'cos\nsystem\n' + s('touch ' + marker) +
        b'\x85R' + s('epoch') + b'K\x01u.')
write_zip('os_system.pth', [('data.pkl', evil), ('version', b'3\n')])
evil2 = (b'\x80\x02}(' + s('w') + b'cposix\nsystem\n' + s('touch ' + marker) + b'\x85Ru.')
write_zip('os_system_weights.pth', [('data.pkl', evil2), ('version', b'3\n')])

write_zip('no_pickle.pth', [('version', b'3\n'), ('data/0', b'\0' * 4)])
write_zip('unknown_op.pth', [('data.pkl', b'\x80\x02}\xff.'), ('version', b'3\n')])

floats = struct.pack('<4f', 1, 2, 3, 4)
write_zip('too_big_view.pth', [
    ('data.pkl', b'\x80\x02}(' + s('w') + rebuild(storage_pid(b'FloatStorage', '0', 4), 0, [10],
                                                 [1]) + b'u.'),
    ('data/0', floats), ('version', b'3\n')])
write_zip('offset_view.pth', [
    ('data.pkl', b'\x80\x02}(' + s('w') + rebuild(storage_pid(b'FloatStorage', '0', 4), 1, [2, 2],
                                                 [1, 1]) + b'u.'),
    ('data/0', floats), ('version', b'3\n')])
write_zip('short_record.pth', [
    ('data.pkl', b'\x80\x02}(' + s('w') + rebuild(storage_pid(b'FloatStorage', '0', 1000), 0,
                                                 [1000], [1]) + b'u.'),
    ('data/0', floats), ('version', b'3\n')])
write_zip('missing_record.pth', [
    ('data.pkl', b'\x80\x02}(' + s('w') + rebuild(storage_pid(b'FloatStorage', '9', 4), 0, [4],
                                                 [1]) + b'u.'),
    ('data/0', floats), ('version', b'3\n')])
write_zip('other_folder.pth', [
    ('data.pkl', b'\x80\x02}(' + s('w') + rebuild(storage_pid(b'FloatStorage', '0', 4), 1, [3],
                                                 [1]) + b'u.'),
    ('data/0', floats), ('version', b'3\n')], folder='my_model_v2')
# A deflated data.pkl that declares far more bytes than the file holds.
with zipfile.ZipFile(path('bomb.pth'), 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('archive/data.pkl', b'\x80\x02N' + b'\x00' * (32 << 20) + b'.')
    z.writestr('archive/version', b'3\n')


# --- Tiny VideoMAE checkpoints under the authors' names (checkpoint_loader_test) ---
# Encoder width 32, depth 2, MLP 128, patch 16, tubelet 2; decoder width 32,
# depth 1; classifier 5 classes with mean pooling (fc_norm). Shapes follow
# docs/checkpoint-format.md; the values are random.
def tiny_block(prefix, width, mlp):
    return [
        (prefix + 'norm1.weight', [width]), (prefix + 'norm1.bias', [width]),
        (prefix + 'attn.qkv.weight', [3 * width, width]),
        (prefix + 'attn.q_bias', [width]), (prefix + 'attn.v_bias', [width]),
        (prefix + 'attn.proj.weight', [width, width]), (prefix + 'attn.proj.bias', [width]),
        (prefix + 'norm2.weight', [width]), (prefix + 'norm2.bias', [width]),
        (prefix + 'mlp.fc1.weight', [mlp, width]), (prefix + 'mlp.fc1.bias', [mlp]),
        (prefix + 'mlp.fc2.weight', [width, mlp]), (prefix + 'mlp.fc2.bias', [width]),
    ]


tiny_pre = [('encoder.patch_embed.proj.weight', [32, 3, 2, 16, 16]),
            ('encoder.patch_embed.proj.bias', [32]),
            ('encoder.norm.weight', [32]), ('encoder.norm.bias', [32]),
            ('encoder_to_decoder.weight', [32, 32]), ('mask_token', [1, 1, 32]),
            ('decoder.norm.weight', [32]), ('decoder.norm.bias', [32]),
            ('decoder.head.weight', [1536, 32]), ('decoder.head.bias', [1536])]
for i in range(2):
    tiny_pre += tiny_block('encoder.blocks.%d.' % i, 32, 128)
tiny_pre += tiny_block('decoder.blocks.0.', 32, 128)
tiny_pre_sd = collections.OrderedDict((n, torch.randn(*s)) for n, s in tiny_pre)
torch.save({'model': tiny_pre_sd, 'epoch': 799}, path('tiny_pretrain.pth'))

tiny_ft = [('patch_embed.proj.weight', [32, 3, 2, 16, 16]), ('patch_embed.proj.bias', [32]),
           ('fc_norm.weight', [32]), ('fc_norm.bias', [32]),
           ('head.weight', [5, 32]), ('head.bias', [5])]
for i in range(2):
    tiny_ft += tiny_block('blocks.%d.' % i, 32, 128)
tiny_ft_sd = collections.OrderedDict((n, torch.randn(*s)) for n, s in tiny_ft)
torch.save({'module': tiny_ft_sd}, path('tiny_finetune.pth'))
for n in ('blocks.1.attn.qkv.weight', 'head.weight', 'fc_norm.bias'):
    raw_f32('tiny_finetune.' + n, tiny_ft_sd[n])
raw_f32('tiny_pretrain.encoder.blocks.0.mlp.fc1.weight',
        tiny_pre_sd['encoder.blocks.0.mlp.fc1.weight'])
