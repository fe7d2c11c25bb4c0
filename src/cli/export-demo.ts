/** `vtd-emu export-demo`: the demo guest and a request trace over it, as files to start from. */
import { need, parse, parseRange, writeOutput } from './args.js';
import { DEMO_EXAMPLES, DEMO_RANGES, DEMO_SID, demoImage, demoRequests } from './demo.js';
import { writeImage, writeRequests } from './formats.js';

export const EXPORT_USAGE = `usage: vtd-emu export-demo [--image FILE] [--requests FILE] [--count N] [--seed N]

Writes the built-in demo guest as a vtd-emu image and a request trace over it as a vtd-emu
request list: working examples of both file formats, ready for walk, dump and bench.

  --image FILE     where to write the image (.vtdimg)
  --requests FILE  where to write the request list (.vtdreq)
  --count N        requests in the list (default 65536, at most 16777216)
  --seed N         seed of the request trace (default 1)

Then, for example:
  vtd-emu dump --image FILE
  vtd-emu walk --image FILE --sid 00:03.0 --pasid 1 --iova 0x7f1234005678
  vtd-emu bench --image FILE --requests FILE`;

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
const bdf = (sid: number): string =>
  `${(sid >> 8).toString(16).padStart(2, '0')}:${((sid >> 3) & 31).toString(16).padStart(2, '0')}.${sid & 7}`;

export async function exportDemoCommand(argv: string[]): Promise<number> {
  const v = parse('export-demo', argv, {
    image: { type: 'string' }, requests: { type: 'string' }, count: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    process.stdout.write(`${EXPORT_USAGE}\n`);
    return 0;
  }
  need(v.image !== undefined || v.requests !== undefined, 'export-demo', 'give --image FILE and/or --requests FILE');
  const count = v.count === undefined ? 65536 : parseRange(v.count, '--count', 1, 1 << 24);
  const seed = v.seed === undefined ? 1 : parseRange(v.seed, '--seed', 0, Number.MAX_SAFE_INTEGER);
  const lines: string[] = [];
  if (v.image !== undefined) {
    const img = await demoImage();
    const bytes = writeImage(img);
    writeOutput(v.image, bytes, 'image');
    lines.push(`wrote ${v.image}: vtd-emu image, ${img.regions.length} RAM regions, ${img.mode} mode, root table ${hex(img.rootTable)}, ${img.pages.length} pages (${bytes.length} bytes)`);
  }
  if (v.requests !== undefined) {
    const bytes = writeRequests(demoRequests(count, seed));
    writeOutput(v.requests, bytes, 'request list');
    lines.push(`wrote ${v.requests}: vtd-emu request list, ${count} requests (seed ${seed}, ${bytes.length} bytes)`);
  }
  lines.push('', `the demo guest: device ${bdf(DEMO_SID)} (sid ${hex(DEMO_SID)}), scalable mode`);
  for (const r of DEMO_RANGES) lines.push(`  ${r.what}${r.pages ? `: IOVA ${hex(r.iova)}, ${r.pages} page(s)` : ''}`);
  if (v.image !== undefined) {
    lines.push('', 'try:');
    for (const e of DEMO_EXAMPLES) {
      lines.push(`  vtd-emu walk --image ${v.image} --sid ${bdf(e.sid ?? DEMO_SID)}${e.pasid !== undefined ? ` --pasid ${e.pasid}` : ''} --iova ${hex(e.iova)}${e.write ? ' --write' : ''}   # ${e.what}`);
    }
    lines.push(`  vtd-emu dump --image ${v.image}`);
    if (v.requests !== undefined) lines.push(`  vtd-emu bench --image ${v.image} --requests ${v.requests}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
