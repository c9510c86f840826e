// The LAN page on a phone and a desktop, light and dark: no sideways scrolling on the phone,
// every member reachable, bulk authorization of waiting devices, an accessibility check with
// axe-core on each main screen (no serious or critical violations), and a screenshot of each
// main screen at both sizes.
// Usage: node phone.cjs BASE_URL TOKEN NWID WAITING_COUNT SHOT_DIR   (prints a JSON result)
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

// axe's serious and critical findings on the current screen.
async function audit(page) {
  await page.evaluate(AXE);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ") + " (" + (n.any[0]?.message || "") + ")").slice(0, 3).join(", ")}`);
}

async function login(page, base, token) {
  await page.goto(base + "/");
  await page.getByLabel("Admin token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Networks" }).waitFor();
}

async function main() {
  const [base, token, nwid, waiting, dir] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  const result = { ok: false, violations: {}, overflow: {}, shots: [] };
  const errors = [];
  try {
    for (const scheme of ["light", "dark"]) {
      for (const [size, viewport] of Object.entries(SIZES)) {
        const page = await browser.newPage({ viewport, colorScheme: scheme });
        page.on("pageerror", (e) => errors.push(String(e)));
        await login(page, base, token);
        const tag = `${size}-${scheme}`;
        result.violations[`networks-${tag}`] = await audit(page);
        if (scheme === "light") {
          const file = path.join(dir, `networks-${size}.png`);
          await page.screenshot({ path: file, fullPage: true });
          result.shots.push(file);
        }
        await page.goto(`${base}/#/network/${nwid}`);
        await page.locator("#member-rows tr[data-id]").first().waitFor();
        result.violations[`network-${tag}`] = await audit(page);
        result.overflow[tag] = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (scheme === "light") {
          const file = path.join(dir, `network-${size}.png`);
          await page.screenshot({ path: file, fullPage: true });
          result.shots.push(file);
        }
        // On the phone each member is a card: its last control is on screen.
        if (size === "phone" && scheme === "light") {
          const del = page.locator("#member-rows tr[data-id] button.danger").first();
          const box = await del.boundingBox();
          result.phone_delete_visible = box !== null && box.x >= 0 && box.x + box.width <= viewport.width;
        }
        await page.close();
      }
    }
    // Bulk authorization of every waiting device, each row reporting its own save.
    const page = await browser.newPage({ viewport: SIZES.desktop });
    await login(page, base, token);
    await page.goto(`${base}/#/network/${nwid}`);
    const bulk = page.getByRole("button", { name: `Authorize all ${waiting} waiting` });
    await bulk.click();
    // Polled from here: the page's CSP forbids the evaluated predicates waitForFunction uses.
    const unticked = page.locator("#member-rows input[type=checkbox]:not(:checked)");
    for (let i = 0; i < 300 && (await unticked.count()) > 0; ++i) await page.waitForTimeout(100);
    result.authorized_all = await page.locator("#member-rows input[type=checkbox]:checked").count();
    result.waiting_left = await page.locator("#member-rows input[type=checkbox]:not(:checked)").count();
    await bulk.waitFor({ state: "hidden" });
    result.bulk_hidden_after = true;
    // The deep link was opened after the list: Back returns to it, Forward to the network.
    await page.goBack();
    await page.getByRole("heading", { name: "Networks", exact: true }).waitFor();
    await page.goForward();
    await page.locator("#member-rows tr[data-id]").first().waitFor();
    result.back_forward = true;
    const serious = Object.values(result.violations).flat();
    const sideways = Object.values(result.overflow).some((o) => o > 1);
    result.ok = serious.length === 0 && !sideways && result.phone_delete_visible
      && result.waiting_left === 0 && result.bulk_hidden_after && result.back_forward;
  } catch (e) {
    result.error = String(e);
  }
  result.page_errors = errors;
  await browser.close();
  console.log(JSON.stringify(result));
  process.exit(result.ok && errors.length === 0 ? 0 : 1);
}

main().catch((e) => { console.log(JSON.stringify({ ok: false, error: String(e) })); process.exit(1); });
