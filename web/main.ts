/**
 * vtd-emu in the browser: build a scenario's tables, translate a request with the WASM core,
 * draw the walk (explainTranslation) as a chain of cards, edit any entry in guest memory and see
 * the fault, and run the benchmark. Plain TypeScript + DOM.
 */
import { explainTranslation, type ExplainedStep, type Explanation, type TranslateRequest, type TranslateResult, type Vtd } from 'vtd-emu';
import { runBenchmark, type BenchResult } from './bench.js';
import { buildScenario, SCENARIOS, SID, type Scenario } from './scenarios.js';

// ---------------------------------------------------------------------------------------------
// DOM helpers

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined>;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const qwordHex = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;
const bdf = (sid: number) =>
  `${(sid >> 8).toString(16).padStart(2, '0')}:${((sid >> 3) & 31).toString(16).padStart(2, '0')}.${sid & 7}`;
const sizeName = (bytes: number) => (bytes >= 1 << 30 ? `${bytes / (1 << 30)} GiB` : bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`);

// ---------------------------------------------------------------------------------------------
// State and elements

const ui = {
  status: $<HTMLParagraphElement>('status'),
  form: $<HTMLFormElement>('request-form'),
  scenario: $<HTMLSelectElement>('scenario'),
  rebuild: $<HTMLButtonElement>('rebuild'),
  description: $<HTMLParagraphElement>('scenario-description'),
  mappings: $<HTMLUListElement>('scenario-mappings'),
  sid: $<HTMLInputElement>('sid'),
  pasid: $<HTMLInputElement>('pasid'),
  iova: $<HTMLInputElement>('iova'),
  write: $<HTMLInputElement>('write'),
  exec: $<HTMLInputElement>('exec'),
  priv: $<HTMLInputElement>('priv'),
  translate: $<HTMLButtonElement>('translate'),
  summary: $<HTMLParagraphElement>('request-summary'),
  walk: $<HTMLOListElement>('walk'),
  bench: $<HTMLButtonElement>('bench'),
  benchProgress: $<HTMLParagraphElement>('bench-progress'),
  benchOut: $<HTMLDivElement>('bench-result'),
};

let vtd: Vtd | undefined;
let scenario: Scenario = SCENARIOS[0]!;

function setStatus(text: string, kind: 'info' | 'error' = 'info'): void {
  ui.status.textContent = text;
  ui.status.dataset.kind = kind;
}

// ---------------------------------------------------------------------------------------------
// The request

function parseSid(text: string): number {
  const t = text.trim();
  const m = /^([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i.exec(t);
  const sid = m ? (parseInt(m[1]!, 16) << 8) | (parseInt(m[2]!, 16) << 3) | Number(m[3]) : Number(t);
  if (!Number.isInteger(sid) || sid < 0 || sid > 0xffff || (!m && t === '')) throw new Error(`source-id: give bus:dev.fn (00:03.0) or a number up to 0xffff, not "${text}"`);
  if (m && parseInt(m[2]!, 16) > 31) throw new Error(`source-id: device must be 0..1f, not "${text}"`);
  return sid;
}

function parsePasid(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || /^none$/i.test(t)) return undefined;
  const p = Number(t);
  if (!Number.isInteger(p) || p < 0 || p > 0xfffff) throw new Error(`PASID: leave empty for none, or give 0..0xfffff, not "${text}"`);
  return p;
}

function parseHex64(text: string, what: string): bigint {
  const t = text.trim().replace(/_/g, '').replace(/^0x/i, '');
  if (!/^[0-9a-f]{1,16}$/i.test(t)) throw new Error(`${what}: give up to 16 hex digits, not "${text}"`);
  return BigInt(`0x${t}`);
}

function readRequest(): TranslateRequest {
  const pasid = parsePasid(ui.pasid.value);
  const req: TranslateRequest = {
    sid: parseSid(ui.sid.value),
    iova: parseHex64(ui.iova.value, 'IOVA'),
    write: ui.write.checked,
    exec: ui.exec.checked,
    priv: ui.priv.checked,
  };
  if (pasid !== undefined) req.pasid = pasid;
  return req;
}

// ---------------------------------------------------------------------------------------------
// Drawing the walk

/** The present bit of a structure that the request depends on (root entry: the half for its devfn). */
function presentField(step: ExplainedStep, req: TranslateRequest): string | undefined {
  if (step.structure === 'root-entry') return step.fields.some((f) => f.name === 'LP') ? ((req.sid & 0xff) < 128 ? 'LP' : 'UP') : 'P';
  return step.structure === 'ad-update' || step.structure === 'ss-entry' ? undefined : 'P';
}

function stepCard(step: ExplainedStep, index: number, req: TranslateRequest): HTMLLIElement {
  const titleId = `step-${index}-title`;
  const card = h('li', {
    class: `card step s-${step.structure}`,
    'data-testid': 'step-card',
    'data-structure': step.structure,
    'data-level': step.level,
    'aria-labelledby': titleId,
  });
  card.append(
    h('h3', { id: titleId }, h('span', { class: 'num', 'aria-hidden': 'true' }, String(index + 1)), ' ', step.title),
    h('p', { class: 'gpa' }, 'GPA ', h('code', { 'data-testid': 'step-gpa' }, hex(step.gpa))),
  );
  if (!step.raw) {
    card.append(h('p', { class: 'warn' }, 'Outside guest RAM: the read fails.'));
    return card;
  }
  const editable = step.structure !== 'ad-update';
  const qwordInput = (q: bigint, j: number): HTMLElement[] => {
    const id = `raw-${index}-${j}`;
    const gpa = step.gpa + 8n * BigInt(j);
    const input = h('input', {
      id,
      type: 'text',
      class: 'qword',
      value: qwordHex(q),
      spellcheck: 'false',
      autocomplete: 'off',
      readonly: !editable,
      'data-testid': id,
      'data-gpa': hex(gpa),
      'aria-label': `${step.title}: qword ${j}, bits ${64 * j + 63}:${64 * j}, at GPA ${hex(gpa)}`,
    });
    if (editable) input.addEventListener('change', () => writeQword(input, gpa));
    return [h('label', { for: id, class: 'qlabel' }, `q${j}`), input];
  };
  // Long entries (context: 4 qwords, PASID entry: 8) fold their trailing all-zero qwords.
  const raw = step.raw;
  let shown = raw.length;
  while (shown > 2 && raw[shown - 1] === 0n) shown--;
  const rawBox = h('div', { class: 'raw' }, ...raw.slice(0, shown).flatMap((q, j) => qwordInput(q, j)));
  const folded = shown < raw.length
    ? h('details', { class: 'more' },
      h('summary', {}, `q${shown}${raw.length - shown > 1 ? `–q${raw.length - 1}` : ''}: zero`),
      h('div', { class: 'raw' }, ...raw.slice(shown).flatMap((q, j) => qwordInput(q, shown + j))))
    : null;
  if (!editable) card.append(h('p', { class: 'note' }, 'What the walk writes back (A/D):'));
  card.append(rawBox);
  if (folded) card.append(folded);

  const present = presentField(step, req);
  const rows = step.fields.map((f) =>
    h('tr', { 'data-field': f.name, class: f.name === present && f.value === '0' ? 'off' : undefined },
      h('th', { scope: 'row' }, f.name), h('td', { class: 'bits' }, f.bits), h('td', { class: 'val' }, f.value)),
  );
  card.append(
    h('table', { class: 'fields' },
      h('caption', { class: 'sr-only' }, `Decoded fields of the ${step.title}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Bits'), h('th', { scope: 'col' }, 'Value'))),
      h('tbody', {}, ...rows)),
  );
  return card;
}

function dlRow(term: string, value: string, testid: string): HTMLElement[] {
  return [h('dt', {}, term), h('dd', { 'data-testid': testid }, value)];
}

function resultCard(res: TranslateResult, expl: Explanation): HTMLLIElement {
  const card = h('li', { class: `card result ${res.ok ? 'ok' : 'fault'}`, 'data-testid': 'result', 'data-ok': String(res.ok), 'aria-labelledby': 'result-title' });
  if (res.ok) {
    const perms = `${res.read ? 'R' : '-'}${res.write ? 'W' : '-'}${res.exec ? 'X' : '-'}`;
    card.append(
      h('h3', { id: 'result-title' }, 'Result: translated'),
      h('dl', {}, ...dlRow('Address', hex(res.address), 'result-address'), ...dlRow('Page size', sizeName(res.pageSize), 'result-page-size'),
        ...dlRow('Permissions', perms, 'result-perms')),
    );
  } else {
    const f = res.fault;
    card.append(
      h('h3', { id: 'result-title' }, 'Result: fault'),
      h('dl', {}, ...dlRow('Fault reason', `0x${f.reason.toString(16).padStart(2, '0')}`, 'fault-code'), ...dlRow('Name', f.name, 'fault-name'),
        ...(f.level ? dlRow('Level', String(f.level), 'fault-level') : []),
        ...dlRow('Description', expl.faultDescription ?? '', 'fault-description')),
    );
  }
  // The walk is drawn by the TypeScript reference walker; the result is the WASM core's. They agree
  // (that is what the property tests check); say so if they ever do not.
  const same = JSON.stringify(expl.result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) ===
    JSON.stringify(res, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  if (!same) card.append(h('p', { class: 'warn', 'data-testid': 'mismatch' }, 'The reference walker disagrees with the core on this request.'));
  return card;
}

function describe(req: TranslateRequest): string {
  return `sid ${hex(req.sid)} (${bdf(req.sid)}), ${req.pasid === undefined ? 'no PASID' : `PASID ${hex(req.pasid)}`}, IOVA ${hex(req.iova)}, ` +
    `${req.write ? 'write' : 'read'}${req.exec ? ' + execute' : ''}${req.priv ? ', supervisor' : ''}`;
}

function translate(): void {
  if (!vtd) return;
  let req: TranslateRequest;
  try {
    req = readRequest();
  } catch (e) {
    setStatus((e as Error).message, 'error');
    return;
  }
  const focused = document.activeElement instanceof HTMLInputElement ? document.activeElement.dataset.testid : undefined;
  // Explain first (it has no side effects), then translate with the core, which sets A/D bits.
  const expl = explainTranslation(vtd, req);
  const res = vtd.translate(req);
  const cards: HTMLElement[] = [];
  expl.steps.forEach((s, i) => {
    if (i > 0) cards.push(h('li', { class: 'arrow', 'aria-hidden': 'true' }, '→'));
    cards.push(stepCard(s, i, req));
  });
  if (cards.length) cards.push(h('li', { class: 'arrow', 'aria-hidden': 'true' }, '→'));
  cards.push(resultCard(res, expl));
  ui.walk.replaceChildren(...cards);
  ui.summary.textContent = `${describe(req)} → ${res.ok ? `${hex(res.address)} (${sizeName(res.pageSize)} page)` : `fault 0x${res.fault.reason.toString(16)} ${res.fault.name}`}; ${expl.steps.length} structures read.`;
  const refocus = focused ? ui.walk.querySelector<HTMLInputElement>(`[data-testid="${focused}"]`) : null;
  if (refocus) {
    refocus.closest('details')?.setAttribute('open', '');
    refocus.focus();
  }
  document.body.dataset.translated = String(Number(document.body.dataset.translated ?? 0) + 1);
}

function writeQword(input: HTMLInputElement, gpa: bigint): void {
  if (!vtd) return;
  let value: bigint;
  try {
    value = parseHex64(input.value, `qword at GPA ${hex(gpa)}`);
  } catch (e) {
    input.setAttribute('aria-invalid', 'true');
    setStatus((e as Error).message, 'error');
    return;
  }
  input.removeAttribute('aria-invalid');
  vtd.memory.writeU64(gpa, value);
  vtd.caches.flush(); // what a driver's invalidation would do; the next walk reads the new entry
  setStatus(`Wrote ${qwordHex(value)} at GPA ${hex(gpa)} and flushed the caches.`);
  translate();
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function loadScenario(id: string): Promise<void> {
  scenario = SCENARIOS.find((s) => s.id === id) ?? SCENARIOS[0]!;
  setStatus(`Building tables: ${scenario.label}…`);
  vtd = await buildScenario(scenario);
  ui.description.textContent = scenario.description;
  ui.mappings.replaceChildren(...scenario.mappings.map((m) => h('li', {}, m)));
  const r = scenario.request;
  ui.sid.value = bdf(SID);
  ui.pasid.value = '';
  ui.iova.value = hex(r.iova);
  ui.write.checked = r.write ?? false;
  ui.exec.checked = r.exec ?? false;
  ui.priv.checked = r.priv ?? false;
  setStatus(`Ready: ${scenario.label}. Tables written in guest RAM; root table programmed.`);
  translate();
}

// ---------------------------------------------------------------------------------------------
// Benchmark

const num = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

function benchTable(r: BenchResult): HTMLElement {
  const row = (name: string, p: BenchResult['batch'], key: string) =>
    h('tr', {}, h('th', { scope: 'row' }, name), h('td', { 'data-testid': `bench-${key}-ns` }, num.format(p.nsPerTranslation)),
      h('td', { 'data-testid': `bench-${key}-rate` }, num.format(p.translationsPerSecond / 1e6)), h('td', {}, `${p.requests} × ${p.reps}`));
  return h('div', {},
    h('table', { class: 'bench' },
      h('caption', {}, `${r.pages} mapped 4 KiB pages, random requests (median of the reps)`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Path'), h('th', { scope: 'col' }, 'ns / translation'),
        h('th', { scope: 'col' }, 'M translations / s'), h('th', { scope: 'col' }, 'requests × reps'))),
      h('tbody', {}, row('vtd.translateBatch', r.batch, 'batch'), row('vtd.translate (one call each)', r.single, 'single'))),
    h('p', { class: 'note' }, `Faults in the batch: ${r.faults}. IOTLB hit rate: ${num.format(r.iotlbHitRate * 100)} %. ` +
      `performance.now() resolution is coarse in browsers, so each rep times a whole batch.`),
  );
}

async function bench(): Promise<void> {
  ui.bench.disabled = true;
  ui.benchOut.setAttribute('aria-busy', 'true');
  try {
    const r = await runBenchmark((what) => (ui.benchProgress.textContent = what));
    ui.benchOut.replaceChildren(benchTable(r));
    ui.benchProgress.textContent = 'Done.';
  } catch (e) {
    ui.benchProgress.textContent = `Benchmark failed: ${String(e)}`;
  } finally {
    ui.bench.disabled = false;
    ui.benchOut.removeAttribute('aria-busy');
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring

ui.scenario.replaceChildren(...SCENARIOS.map((s) => h('option', { value: s.id }, s.label)));
ui.scenario.addEventListener('change', () => void loadScenario(ui.scenario.value).catch(fail));
ui.rebuild.addEventListener('click', () => void loadScenario(ui.scenario.value).catch(fail));
ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  translate();
});
ui.bench.addEventListener('click', () => void bench());

function fail(e: unknown): void {
  setStatus(`Error: ${e instanceof Error ? e.message : String(e)}`, 'error');
  document.body.dataset.error = '1';
}

const initial = new URLSearchParams(location.search).get('scenario');
if (initial && SCENARIOS.some((s) => s.id === initial)) ui.scenario.value = initial;
loadScenario(ui.scenario.value).then(
  () => {
    ui.translate.disabled = false;
    ui.bench.disabled = false;
    document.body.dataset.ready = '1';
  },
  fail,
);
