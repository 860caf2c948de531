// Renders DiceBear pixel-art portraits (design CC0, code MIT) to one PNG atlas of 32×32 cells
// for train_sprites.py.   node models/train/render_dicebear.mjs <count> <out.png>
// Run with the packages fetch_data.sh installed: NODE_PATH=$KILN_DATA_DIR/node/node_modules
import { createAvatar } from '@dicebear/core';
import * as pixelArt from '@dicebear/pixel-art';
import { Resvg } from '@resvg/resvg-js';
import { writeFileSync } from 'node:fs';

const count = Number(process.argv[2] ?? 4096);
const out = process.argv[3] ?? 'dicebear.png';
const cell = 32;
const columns = 64;
const rows = Math.ceil(count / columns);

// One SVG holding every avatar, rendered once: far faster than one render per avatar.
const parts = [];
for (let i = 0; i < count; i++) {
  const svg = createAvatar(pixelArt, { seed: `kiln-${i}`, size: cell }).toString();
  const x = (i % columns) * cell;
  const y = Math.floor(i / columns) * cell;
  parts.push(`<g transform="translate(${x} ${y})">${svg}</g>`);
}
const atlas = `<svg xmlns="http://www.w3.org/2000/svg" width="${columns * cell}" height="${rows * cell}">${parts.join('')}</svg>`;
const png = new Resvg(atlas, { shapeRendering: 1 }).render().asPng();
writeFileSync(out, png);
console.log(`rendered ${count} portraits into ${out}`);
