/**
 * A one-line progress bar on a terminal (stderr): `[#########.........]  12/40  fs4-4k-rand
 * batch-iotlb  0:31, ~0:52 left`. Log lines printed through it scroll above the bar.
 */
export interface Progress {
  update(done: number, total: number, label: string): void;
  log(line: string): void;
  done(): void;
}

const clock = (s: number): string => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

export function terminalProgress(stream: NodeJS.WriteStream, title: string): Progress {
  const t0 = Date.now();
  let last = '';
  let state = { done: 0, total: 1, label: '' };
  let drawn = false;
  const draw = () => {
    const width = Math.max(40, stream.columns ?? 80);
    const { done, total, label } = state;
    const elapsed = (Date.now() - t0) / 1000;
    const left = done > 0 && done < total ? `, ~${clock((elapsed / done) * (total - done))} left` : '';
    const counts = `${String(done).padStart(String(total).length)}/${total}  ${clock(elapsed)}${left}`;
    const barW = Math.max(10, Math.min(30, width - title.length - counts.length - 30));
    const fill = Math.round((barW * Math.min(done, total)) / Math.max(1, total));
    const fixed = `${title} [${'#'.repeat(fill)}${'.'.repeat(barW - fill)}] ${counts}  `;
    const line = `${fixed}${label}`.slice(0, width - 1);
    if (line === last && drawn) return;
    stream.write(`\r\x1b[2K${line}`);
    last = line;
    drawn = true;
  };
  const timer = setInterval(draw, 1000);
  timer.unref();
  return {
    update(done, total, label) {
      state = { done, total, label };
      draw();
    },
    log(line) {
      stream.write(`${drawn ? '\r\x1b[2K' : ''}${line}\n`);
      drawn = false;
      draw();
    },
    done() {
      clearInterval(timer);
      if (drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
  };
}
