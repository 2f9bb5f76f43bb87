// CSV (RFC 4180) with spreadsheet formula injection neutralised: a cell that starts with
// = + - @ (or a tab / carriage return, which some spreadsheets strip first) gets a leading
// apostrophe so it is read as text. Pure: no DOM.

const RISKY = /^[=+\-@\t\r]/;

export function csvCell(v) {
  let s = v === null || v === undefined ? '' : String(v);
  if (RISKY.test(s)) s = `'${s}`;
  if (/[",\r\n]/.test(s) || s !== s.trim()) s = `"${s.replace(/"/g, '""')}"`;
  return s;
}

export function csvRow(cells) {
  return cells.map(csvCell).join(',');
}

/** rows: array of arrays; header: array. CRLF line ends, trailing CRLF. */
export function toCsv(header, rows) {
  return [csvRow(header), ...rows.map(csvRow)].join('\r\n') + '\r\n';
}
