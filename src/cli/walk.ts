/** `vtd-emu walk`: one translation explained step by step. */
import { explainTranslation, formatExplanation } from '../explain.js';
import type { TranslateRequest, TranslateResult } from '../types.js';
import { need, parse, parsePasid, parseSid, parseU64 } from './args.js';
import { DEMO_SID } from './demo.js';
import { describeImage, loadImage, unitOf } from './load.js';

export const WALK_USAGE = `usage: vtd-emu walk (--image FILE | --demo) --iova ADDR [--sid BDF] [--pasid N] [--write] [--exec] [--priv] [--json]

Explains how the image's IOMMU translates one DMA request: every structure the walk reads
(root entry, context entry, PASID directory and table entry, each page-table entry) with its
guest-physical address, raw value and decoded fields, every A/D update, then the result or the
VT-d fault. Nothing in the image changes.

  --image FILE   a vtd-emu image (.vtdimg) or a native_walk VTDIMG01 image
  --demo         the built-in demo guest instead (see vtd-emu export-demo)
  --iova ADDR    input address, 0x hex or decimal
  --sid BDF      source-id as BB:DD.F (hex) or a number (default 00:03.0 = 0x18); for a
                 VTDIMG01 image also the device that gets the context entry
  --pasid N      PASID of a request-with-PASID (omit for a request without PASID)
  --write        a write request (default: read)
  --exec         an execute request
  --priv         a supervisor (privileged) request
  --json         print the explanation as JSON (addresses and raw values as hex strings)`;

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

function resultJson(r: TranslateResult): unknown {
  return r.ok ? { ...r, address: hex(r.address) } : r;
}

function sameResult(a: TranslateResult, b: TranslateResult): boolean {
  if (a.ok !== b.ok) return false;
  if (a.ok && b.ok) return a.address === b.address && a.pageSize === b.pageSize && a.read === b.read && a.write === b.write && a.exec === b.exec;
  return !a.ok && !b.ok && a.fault.reason === b.fault.reason;
}

export async function walkCommand(argv: string[]): Promise<number> {
  const v = parse('walk', argv, {
    image: { type: 'string' }, demo: { type: 'boolean' }, sid: { type: 'string' }, pasid: { type: 'string' }, iova: { type: 'string' },
    write: { type: 'boolean' }, exec: { type: 'boolean' }, priv: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    process.stdout.write(`${WALK_USAGE}\n`);
    return 0;
  }
  need(v.image !== undefined || v.demo, 'walk', 'give --image FILE or --demo');
  need(!(v.image !== undefined && v.demo), 'walk', 'give --image FILE or --demo, not both');
  need(v.iova !== undefined, 'walk', '--iova is required');
  const sid = v.sid === undefined ? DEMO_SID : parseSid(v.sid);
  const req: TranslateRequest = { sid, iova: parseU64(v.iova!, '--iova') };
  if (v.pasid !== undefined) req.pasid = parsePasid(v.pasid);
  if (v.write) req.write = true;
  if (v.exec) req.exec = true;
  if (v.priv) req.priv = true;

  const img = await loadImage(v.image, sid);
  const vtd = await unitOf(img, false);
  const e = explainTranslation(vtd, req);
  // The explanation comes from the reference walker; the WASM core translates the same request.
  const core = vtd.translate(req);
  const agrees = sameResult(core, e.result);
  if (v.json) {
    const doc = {
      image: describeImage(img),
      request: { ...req, sid: hex(req.sid), iova: hex(req.iova) },
      steps: e.steps.map((s) => ({
        structure: s.structure, title: s.title, gpa: hex(s.gpa), ...(s.level !== undefined ? { level: s.level } : {}),
        raw: s.raw ? s.raw.map(hex) : null, fields: s.fields,
      })),
      result: resultJson(e.result),
      ...(e.faultDescription ? { faultDescription: e.faultDescription } : {}),
      core: { result: resultJson(core), agrees },
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    process.stdout.write(`image: ${describeImage(img)}\n${formatExplanation(e)}\n`);
    if (!agrees) process.stdout.write(`WARNING: the WASM core translates this request differently: ${JSON.stringify(resultJson(core))}\n`);
  }
  return agrees ? 0 : 1;
}
