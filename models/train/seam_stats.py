#!/usr/bin/env python3
"""Seam-score statistics of models/kiln_textures (docs/benchmarks.md): 64 tiles vs 64 windows
that do not tile. Same formula as kiln_gen::texture::seam_score with the model's stride 8.

    pip install onnxruntime numpy && python3 models/train/seam_stats.py
"""
import numpy as np, onnxruntime as ort
s=ort.InferenceSession('models/kiln_textures/model.onnx', providers=['CPUExecutionProvider'])
def score(a, p=8):
    a=a.astype(float); h,w,_=a.shape
    dx=np.abs(a[:, 1:]-a[:, :-1]).sum(2); dy=np.abs(a[1:]-a[:-1]).sum(2)
    ix=[i for i in range(w-1) if (i+1)%p==0]; iy=[i for i in range(h-1) if (i+1)%p==0]
    inner=(dx[:,ix].sum()+dy[iy,:].sum())/(dx[:,ix].size+dy[iy,:].size)
    wx=np.abs(a[:,-1]-a[:,0]).sum(1); wy=np.abs(a[-1]-a[0]).sum(1)
    return ((wx.sum()+wy.sum())/(wx.size+wy.size))/inner
rng=np.random.default_rng(1); T=[];C=[]
for c in range(8):
    z=rng.standard_normal((8,32,32,32)).astype(np.float32)
    im=s.run(None,{'z':z,'class':np.full(8,c,dtype=np.int64)})[0]
    im=((np.clip(im,-1,1)+1)*127.5).round().transpose(0,2,3,1)
    for a in im:
        T.append(score(a)); y,x=rng.integers(0,256-128,2); y-=y%8; x+=0; C.append(score(a[y:y+128,x:x+128]))
print('tiles 256px, 64 variants: pct50/90/99/max', np.round(np.percentile(T,[50,90,99,100]),2), 'mean', round(np.mean(T),2))
print('128px crops (not tiles):  pct1/5/50', np.round(np.percentile(C,[1,5,50]),2), 'mean', round(np.mean(C),2))
