import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { pathToFileURL } from "url";
import type { BrowserContext } from "playwright-core";
import { HOSTILE_NAME, runLocalWithHostileUpload } from "../support/summary-fixture";

/**
 * Renders the local run's reports/latest.html in headless Chromium (Debian's package, installed by
 * scripts/install-chromium.sh; `npm run test:browser` runs both). Skips, saying so, where there is no
 * Chromium, so `npm test` passes on any machine. Set HTML_SUMMARY_SCREENSHOT to keep the screenshot
 * (`npm run test:browser` writes docs/html-summary.png for the README).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

// No network on CI and developer machines: nothing in the browser may try to reach one.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

describe("HTML summary in a real browser (headless Chromium)", function () {
  this.timeout(120000);
  let tmp: string;
  let context: BrowserContext | undefined;
  let visible = "";
  const dialogs: string[] = [];
  const requests: string[] = [];
  let counts: { scripts: number; bars: number; due: number; tables: number; title: string };

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`      skipped: no Chromium at ${CHROMIUM} (install it with scripts/install-chromium.sh, or run npm run test:browser)`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "facility-browser-"));
    const run = runLocalWithHostileUpload(tmp);
    expect(run.status, run.stderr).to.equal(0);
    const { chromium } = await import("playwright-core");
    // A fresh profile per run: no state from an earlier run or another user.
    context = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1180, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(path.join(run.out, "reports", "latest.html")).href);
    visible = await page.innerText("body");
    counts = {
      scripts: await page.locator("script").count(),
      bars: await page.locator("svg rect.bar").count(),
      due: await page.locator("svg circle.due").count(),
      tables: await page.locator("table").count(),
      title: await page.title(),
    };
    const shot = process.env.HTML_SUMMARY_SCREENSHOT ?? path.join(tmp, "html-summary.png");
    fs.mkdirSync(path.dirname(path.resolve(shot)), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
  });

  after(async () => {
    await context?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("shows the as-of date, the three reports and the uploads summary as visible text", () => {
    expect(counts.title).to.equal("Facility reports as of 2026-11-27");
    expect(visible).to.include("As of 2026-11-27");
    for (const heading of [
      "Accredited facilities per state",
      "Expiring accreditations",
      "Uploads in this run",
      "accreditation-by-state",
      "facility-metrics",
      "expiring-accreditations",
    ])
      expect(visible).to.include(heading);
    expect(visible).to.match(/5 uploads: 11 records accepted, 1 rejected\./);
    expect(visible).to.include("Mercy General Hospital");
  });

  it("shows a <script> in a facility name as text, and runs nothing", () => {
    expect(visible).to.include(HOSTILE_NAME);
    expect(counts.scripts).to.equal(0);
    expect(dialogs).to.deep.equal([]);
    expect(counts.title).to.not.equal("pwned");
  });

  it("draws a bar per state and a marker per expiring accreditation", () => {
    expect(counts.bars).to.equal(4);
    expect(counts.due).to.equal(5);
    expect(counts.tables).to.equal(4);
  });

  it("loads nothing but the page itself", () => {
    expect(requests.filter((u) => !u.startsWith("file://"))).to.deep.equal([]);
    expect(requests).to.have.length(1);
  });
});
