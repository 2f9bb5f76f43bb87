// Dumps per day (stacked bars: completed / failed / other) and bytes written per day
// (line, right axis) from /stats per_day, drawn with Chart.js (htdocs/vendor, copied
// from npm at build time by `make web`).

import { $, setText } from './dom.js';
import { bytes, num } from './format.js';

let chart = null;

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function reducedMotion() {
  return window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}

/** Fill 30 days ending today so quiet days show as zero. */
function series(perDay) {
  const byDate = new Map();
  for (const d of Array.isArray(perDay) ? perDay : []) {
    if (d && typeof d.date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(d.date)) byDate.set(d.date, d);
  }
  const out = [];
  const today = new Date();
  for (let i = 29; i >= 0; i--) {
    const t = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    const key = t.toISOString().slice(0, 10);
    const d = byDate.get(key) || {};
    const count = num(d.count) ?? 0;
    const completed = num(d.completed) ?? 0;
    const failed = num(d.failed) ?? 0;
    out.push({ date: key, completed, failed, other: Math.max(0, count - completed - failed), bytes: num(d.bytes) ?? 0 });
  }
  return out;
}

export function renderChart(perDay) {
  const note = $('chart-note');
  const canvas = $('chart');
  const s = series(perDay);
  const total = s.reduce((a, d) => a + d.completed + d.failed + d.other, 0);
  const totalBytes = s.reduce((a, d) => a + d.bytes, 0);
  canvas.setAttribute('aria-label', `Bar chart: ${total} dumps over the last 30 days, ${bytes(totalBytes)} written.`);
  if (typeof window.Chart !== 'function') {
    note.hidden = false;
    setText(note, 'The chart library is missing (htdocs/vendor/chart.umd.min.js: run make web).');
    return;
  }
  note.hidden = true;
  const Chart = window.Chart;
  const text = cssVar('--muted', '#666');
  const grid = cssVar('--border', '#ddd');
  const labels = s.map((d) => d.date.slice(5));
  const gib = s.map((d) => d.bytes / 1073741824);
  const data = {
    labels,
    datasets: [
      { type: 'bar', label: 'Completed', data: s.map((d) => d.completed), backgroundColor: cssVar('--chart-bar', '#3b7ddd'), stack: 'n', yAxisID: 'y', order: 2 },
      { type: 'bar', label: 'Failed', data: s.map((d) => d.failed), backgroundColor: cssVar('--chart-bar-2', '#d9534f'), stack: 'n', yAxisID: 'y', order: 2 },
      { type: 'bar', label: 'Cancelled', data: s.map((d) => d.other), backgroundColor: cssVar('--muted', '#888'), stack: 'n', yAxisID: 'y', order: 2 },
      { type: 'line', label: 'Storage written (GiB)', data: gib, borderColor: cssVar('--chart-line', '#2e9e6a'), backgroundColor: cssVar('--chart-line', '#2e9e6a'), yAxisID: 'y1', tension: 0.25, pointRadius: 2, order: 1 },
    ],
  };
  if (chart) {
    chart.data = data;
    chart.update(reducedMotion() ? 'none' : undefined);
    return;
  }
  chart = new Chart(canvas, {
    data,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: reducedMotion() ? false : { duration: 300 },
      interaction: { mode: 'index', intersect: false },
      plugins: {
        legend: { labels: { color: text, boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: (ctx) => (ctx.dataset.yAxisID === 'y1'
              ? `Storage: ${bytes(s[ctx.dataIndex].bytes)}`
              : `${ctx.dataset.label}: ${ctx.parsed.y}`),
          },
        },
      },
      scales: {
        x: { stacked: true, ticks: { color: text, maxRotation: 0, autoSkipPadding: 8 }, grid: { display: false } },
        y: { stacked: true, beginAtZero: true, ticks: { color: text, precision: 0 }, grid: { color: grid }, title: { display: true, text: 'dumps', color: text } },
        y1: { position: 'right', beginAtZero: true, ticks: { color: text }, grid: { drawOnChartArea: false }, title: { display: true, text: 'GiB', color: text } },
      },
    },
  });
}
