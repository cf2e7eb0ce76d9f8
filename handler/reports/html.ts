import type { Cell, ReportDocument, Row } from "../core/results";

/**
 * The one-page HTML summary of a report run: the reports as tables, a bar chart of accredited
 * facilities per state, a timeline of expiring accreditations and what happened to this run's uploads.
 *
 * A pure function of its input. The page must be readable opened straight from S3 or a disk, with no
 * network: no scripts, no remote styles or fonts, charts as inline SVG. Every value from the data is
 * escaped (facility names are untrusted input), and a Content-Security-Policy that allows no script
 * at all backs that up should a value ever slip through unescaped.
 */

/** `results` may hold only the first rows (see PREVIEW_ROWS); `result_count` is the total. */
export type SummaryReport = Pick<ReportDocument, "report" | "description" | "parameters" | "columns" | "results" | "result_count">;

/** What happened to one upload of the run, for the rejects summary. */
export interface SummaryUpload {
  file: string;
  /** The ingest outcome, or removed / ignored / failed. */
  status: string;
  accepted: number;
  rejected: number;
  /** Problems with the file as a whole, or why it was ignored or failed. */
  problems: string[];
  /** Where its rejects and reasons are (an output-bucket key). */
  quarantine?: string;
}

export interface SummaryPageInput {
  asOf: string;
  /** When the reports were produced (ISO 8601). */
  generatedAt: string;
  engine: string;
  curatedObjects: number;
  reports: SummaryReport[];
  uploads: SummaryUpload[];
  /** Link to each report's CSV, relative to the page, by report name. */
  csvHrefs?: Record<string, string>;
}

/** Rows shown per report table; the rest are in the CSV (a page of a million rows helps no one). */
export const PAGE_ROWS = 200;
/** Accreditations drawn on the timeline; the table below it lists them all (up to PAGE_ROWS). */
export const TIMELINE_LANES = 40;

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const e = escapeHtml;

export function renderSummaryPage(input: SummaryPageInput): string {
  const byName = new Map(input.reports.map((r) => [r.report, r]));
  const byState = byName.get("accreditation-by-state");
  const expiring = byName.get("expiring-accreditations");
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Facility reports as of ${e(input.asOf)}</title>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    "<header>",
    "<h1>Facility reports</h1>",
    `<p class="meta">As of <strong>${e(input.asOf)}</strong> &middot; produced ${e(input.generatedAt)} by ${e(input.engine)}` +
      ` &middot; ${e(input.curatedObjects)} curated file${input.curatedObjects === 1 ? "" : "s"}</p>`,
    "</header>",
    '<div class="charts">',
    byState ? stateChart(byState) : "",
    expiring ? expiryTimeline(expiring, input.asOf) : "",
    "</div>",
    uploadsSection(input.uploads),
    ...input.reports.map((r) => reportSection(r, input.csvHrefs?.[r.report])),
    "</body>",
    "</html>",
    "",
  ]
    .filter((l) => l !== "")
    .join("\n");
}

function reportSection(r: SummaryReport, csvHref: string | undefined): string {
  const shown = r.results.slice(0, PAGE_ROWS);
  const params = Object.entries(r.parameters)
    .map(([k, v]) => `${e(k)} ${e(v)}`)
    .join(", ");
  const more = r.result_count - shown.length;
  const csv = csvHref ? ` <a href="${e(csvHref)}">CSV</a>` : "";
  return [
    `<section id="${e(r.report)}">`,
    `<h2>${e(r.report)}</h2>`,
    `<p>${e(r.description)}${params ? ` (${params})` : ""}. ${e(r.result_count)} row${r.result_count === 1 ? "" : "s"}.${csv}</p>`,
    r.results.length === 0
      ? '<p class="none">No rows.</p>'
      : table(
          r.columns.map((c) => c.name),
          shown,
        ),
    more > 0 ? `<p class="more">${e(more)} more rows in the CSV.</p>` : "",
    "</section>",
  ]
    .filter((l) => l !== "")
    .join("\n");
}

function table(columns: string[], rows: Row[]): string {
  const numeric = columns.map((c) => rows.every((r) => r[c] === null || typeof r[c] === "number"));
  const head = columns.map((c, i) => `<th${numeric[i] ? ' class="num"' : ""}>${e(c)}</th>`).join("");
  const body = rows.map((r) => `<tr>${columns.map((c, i) => `<td${numeric[i] ? ' class="num"' : ""}>${cell(r[c])}</td>`).join("")}</tr>`);
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body.join("\n")}\n</tbody>\n</table>`;
}

const cell = (v: Cell | undefined) =>
  v === null || v === undefined ? '<span class="null">&ndash;</span>' : e(typeof v === "number" ? v.toLocaleString("en-US") : v);

function uploadsSection(uploads: SummaryUpload[]): string {
  const accepted = uploads.reduce((n, u) => n + u.accepted, 0);
  const rejected = uploads.reduce((n, u) => n + u.rejected, 0);
  const rows = uploads.map((u) => {
    const bad = u.rejected > 0 || u.status === "rejected" || u.status === "failed";
    return (
      `<tr${bad ? ' class="bad"' : ""}><td>${e(u.file)}</td><td>${e(u.status)}</td><td class="num">${e(u.accepted)}</td>` +
      `<td class="num">${e(u.rejected)}</td><td>${u.problems.map(e).join("<br>")}</td><td>${u.quarantine ? e(u.quarantine) : ""}</td></tr>`
    );
  });
  return [
    '<section id="uploads">',
    "<h2>Uploads in this run</h2>",
    `<p>${e(uploads.length)} upload${uploads.length === 1 ? "" : "s"}: ${e(accepted)} records accepted, ${e(rejected)} rejected.` +
      (rejected > 0 ? " Each reject is kept with its line and reason in the quarantine object named below." : "") +
      "</p>",
    uploads.length === 0
      ? ""
      : [
          "<table>",
          '<thead><tr><th>upload</th><th>outcome</th><th class="num">accepted</th><th class="num">rejected</th><th>file problems</th><th>rejects and reasons</th></tr></thead>',
          `<tbody>\n${rows.join("\n")}\n</tbody>`,
          "</table>",
        ].join("\n"),
    "</section>",
  ]
    .filter((l) => l !== "")
    .join("\n");
}

/** Horizontal bars: one per state, in the report's order (most accredited facilities first). */
function stateChart(r: SummaryReport): string {
  const rows = r.results.filter((x) => typeof x.accredited_facilities === "number");
  const title = "<h2>Accredited facilities per state</h2>";
  if (rows.length === 0) return `<figure>${title}<p class="none">No accredited facilities.</p></figure>`;
  const max = Math.max(...rows.map((x) => x.accredited_facilities as number), 1);
  const [label, barMax, rowH, top] = [44, 220, 22, 8];
  const width = label + barMax + 50;
  const height = top * 2 + rows.length * rowH;
  const bars = rows.map((x, i) => {
    const n = x.accredited_facilities as number;
    const y = top + i * rowH;
    const w = Math.max(1, Math.round((n / max) * barMax));
    return (
      `<g><title>${e(x.state)}: ${e(n)} accredited facilities</title>` +
      `<text x="${label - 8}" y="${y + 15}" text-anchor="end">${e(x.state)}</text>` +
      `<rect x="${label}" y="${y + 3}" width="${w}" height="${rowH - 6}" class="bar"></rect>` +
      `<text x="${label + w + 6}" y="${y + 15}">${e(n)}</text></g>`
    );
  });
  return `<figure>${title}\n<svg role="img" aria-label="Accredited facilities per state" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">\n${bars.join("\n")}\n</svg></figure>`;
}

/** Shortens a label to fit its column; the full text is in the tooltip and the table. */
const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const DAY_MS = 86_400_000;
const dayOf = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / DAY_MS;

/** A lane per accreditation, from the as-of date to the day it expires, on a month-ticked axis. */
function expiryTimeline(r: SummaryReport, asOf: string): string {
  const rows = r.results.filter((x) => typeof x.valid_until === "string").slice(0, TIMELINE_LANES);
  const title = "<h2>Expiring accreditations</h2>";
  if (rows.length === 0) return `<figure>${title}<p class="none">None expire within the window.</p></figure>`;
  const start = dayOf(asOf);
  const horizon = typeof r.parameters.horizon === "string" ? dayOf(r.parameters.horizon) : start;
  const end = Math.max(horizon, ...rows.map((x) => dayOf(String(x.valid_until))), start + 1);
  const [label, plot, laneH, axisH] = [310, 320, 20, 26];
  const width = label + plot + 60;
  const height = axisH + rows.length * laneH + 22;
  const xOf = (day: number) => label + Math.round(((day - start) / (end - start)) * plot);
  const ticks: string[] = [];
  const first = new Date(start * DAY_MS);
  for (let m = 0; ; m++) {
    const tick = Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + m, 1) / DAY_MS;
    if (tick > end) break;
    const x = xOf(tick);
    // A month starting within days of the as-of date would crowd its line.
    if (x - xOf(start) < 20) continue;
    ticks.push(
      `<line x1="${x}" y1="${axisH - 6}" x2="${x}" y2="${height}" class="grid"></line>` +
        `<text x="${x}" y="${axisH - 10}" text-anchor="middle" class="tick">${new Date(tick * DAY_MS).toISOString().slice(0, 7)}</text>`,
    );
  }
  const lanes = rows.map((x, i) => {
    const y = axisH + i * laneH + laneH / 2;
    const until = String(x.valid_until);
    const due = xOf(dayOf(until));
    const name = `${String(x.facility_name ?? x.facility_id ?? "")}`;
    const who = `${clip(name, 26)} · ${clip(String(x.accreditation_body ?? ""), 16)}`;
    return (
      `<g><title>${e(name)}, ${e(x.accreditation_body ?? "")} ${e(x.accreditation_id ?? "")}: valid until ${e(until)} (${e(x.days_remaining)} days)</title>` +
      `<text x="${label - 8}" y="${y + 4}" text-anchor="end">${e(who)}</text>` +
      `<line x1="${xOf(start)}" y1="${y}" x2="${due}" y2="${y}" class="span"></line>` +
      `<circle cx="${due}" cy="${y}" r="5" class="due"></circle>` +
      `<text x="${due + 9}" y="${y + 4}" class="days">${e(x.days_remaining)} d</text></g>`
    );
  });
  const note = r.results.length > rows.length ? `<figcaption>The first ${rows.length} of ${r.results.length}; all are in the table below.</figcaption>` : "";
  return (
    `<figure>${title}\n<svg role="img" aria-label="Expiring accreditations" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">\n` +
    `${ticks.join("\n")}\n<line x1="${xOf(start)}" y1="${axisH - 6}" x2="${xOf(start)}" y2="${height - 14}" class="asof"></line>` +
    `<text x="${xOf(start)}" y="${height - 2}" class="tick" text-anchor="middle">as of ${e(asOf)}</text>\n${lanes.join("\n")}\n</svg>${note}</figure>`
  );
}

const STYLE = [
  "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2430;margin:24px auto;max-width:1100px;padding:0 16px}",
  "h1{font-size:22px;margin:0}h2{font-size:17px;margin:24px 0 6px}.meta{color:#555;margin:4px 0 12px}",
  ".charts{display:flex;flex-wrap:wrap;gap:32px}figure{margin:0}figure h2{margin-top:8px}figcaption{color:#555;font-size:12px}",
  "svg text{font-size:12px;fill:#1d2430}.bar{fill:#2f6db5}.span{stroke:#9db8d9;stroke-width:3}.due{fill:#c4442b}",
  ".grid{stroke:#e3e7ee}.asof{stroke:#888;stroke-dasharray:3 3}.tick{fill:#666;font-size:11px}.days{fill:#555;font-size:11px}",
  "table{border-collapse:collapse;margin:6px 0 4px}th,td{border-bottom:1px solid #e3e7ee;padding:3px 10px;text-align:left;vertical-align:top}",
  "th{background:#f3f5f8}.num{text-align:right;font-variant-numeric:tabular-nums}.null{color:#999}tr.bad td{background:#fff4f1}",
  ".none,.more{color:#555}",
].join("");
