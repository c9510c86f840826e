// Drives the ztcd LAN page in headless Chromium: logs in with the token, creates a network,
// authorizes a member that asked to join, checks the member list shows it authorized, then
// blocks and unblocks it; pools (CIDR, outside the routes, overlapping another network),
// rules, approval window, access end, rollback of a refused change, refresh, Find/Show/Sort,
// Back/Forward and deep links, authorize-and-name, descriptions, IPv6 addresses, copying.
// Usage: node page.cjs BASE_URL TOKEN MEMBER_ADDRESS SCREENSHOT.png   (prints a JSON result)
"use strict";
const { chromium } = require("playwright-core");

async function main() {
  const [base, token, member, shot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  const result = { ok: false, steps: [] };
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 }, permissions: ["clipboard-read", "clipboard-write"] });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // The refusals the steps below ask for (a rules source with an error, an invalid address)
  // are expected.
  page.on("console", (m) => {
    const url = m.location().url || "";
    const expected = url.endsWith("/ztcd/rules/compile") || url.endsWith("/member/" + member);
    if (m.type() === "error" && !expected) errors.push(m.text());
  });
  try {
    await page.goto(base + "/");
    await page.getByLabel("Admin token").fill(token);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Networks" }).waitFor();
    result.steps.push("logged in");
    // This node serves no moon: no button offering one.
    result.moon_hidden = await page.getByRole("button", { name: "Download moon" }).isHidden();
    // The planet's roots: this router alone, at its endpoint.
    await page.locator("#root-rows tr").first().waitFor();
    result.roots = await page.locator("#root-rows").textContent();

    await page.getByRole("button", { name: "Back up now" }).click();
    await page.getByRole("status").filter({ hasText: "Backup written" }).waitFor();
    // The list is reloaded after the status changes: wait for the new file in it.
    await page.locator("#backup-list li", { hasText: "ztcd-backup-" }).first().waitFor();
    result.backups = await page.locator("#backup-list").textContent();
    // A backup downloads with the token (the browser saves the encrypted file as it is).
    const [dl] = await Promise.all([
      page.waitForEvent("download"),
      page.locator("#backup-list button", { hasText: "download" }).first().click(),
    ]);
    result.downloaded = dl.suggestedFilename();
    result.steps.push("backed up");

    await page.getByLabel("New network name", { exact: true }).fill("browser-net");
    await page.getByLabel("Address pool", { exact: true }).fill("10.200.0.0/24");
    await page.getByRole("button", { name: "Create network" }).click();
    const link = page.getByRole("button", { name: "browser-net", exact: true });
    await link.waitFor();
    const nwid = (await page.locator("#network-rows code").first().textContent()).trim();
    result.nwid = nwid;
    result.steps.push("created " + nwid);

    // The device asks to join: its first request leaves an unauthorized member record.
    const r = await fetch(`${base}/controller/network/${nwid}/member/${member}`, {
      method: "POST",
      headers: { "X-ZT1-Auth": token, "Content-Type": "application/json" },
      body: JSON.stringify({ authorized: false, name: "phone" }),
    });
    if (!r.ok) throw new Error("join request: " + r.status);

    await link.click();
    await page.getByRole("heading", { name: "browser-net", exact: true }).waitFor();
    // The screen has an address: a reload comes back to it.
    result.hash = new URL(page.url()).hash;
    await page.reload();
    await page.getByRole("heading", { name: "browser-net", exact: true }).waitFor();
    // Join instructions name this network.
    await page.getByText("Join a device to this network").click();
    result.join_id = await page.getByLabel("Network ID to join").inputValue();
    result.join_ok = result.join_id === nwid
      && (await page.locator("#join-linux").textContent()) === `sudo zerotier-cli join ${nwid}`;
    // The rules editor: an error is shown where it is, a good source is saved.
    const rules = page.getByLabel(/Rules source/);
    await rules.fill("drop\n  not ethertype arpp\n;\naccept;");
    await page.getByRole("button", { name: "Check rules" }).click();
    await page.locator("#rules-msg", { hasText: "line 2" }).waitFor();
    result.rules_error = await page.locator("#rules-msg").textContent();
    result.rules_invalid = await rules.getAttribute("aria-invalid");
    await rules.fill("tag team id 5 enum 1 blue;\ndrop not ethertype arp not ethertype ipv4;\naccept tdiff team 0;\naccept;");
    await page.getByRole("button", { name: "Save rules" }).click();
    await page.locator("#rules-msg", { hasText: "Saved" }).waitFor();
    result.rules_saved = await page.locator("#rules-msg").textContent();
    // An approval window opened and closed from the page.
    await page.getByLabel("For minutes").fill("5");
    await page.getByLabel("At most devices").fill("2");
    await page.getByRole("button", { name: "Open window" }).click();
    await page.locator("#w-state", { hasText: "0 of 2 devices joined" }).waitFor();
    result.window_open = await page.locator("#w-state").textContent();
    await page.getByRole("button", { name: "Close window" }).click();
    await page.locator("#w-state", { hasText: "Closed" }).waitFor();
    result.steps.push("window opened and closed");
    const box = page.getByLabel("Authorize phone", { exact: true });
    await box.waitFor();
    if (await box.isChecked()) throw new Error("member already authorized");
    await box.check();
    // The row reports its own save, and keeps the focus on the box.
    const rowNote = page.locator(`tr[data-id="${member}"] .rowmsg`);
    await rowNote.filter({ hasText: "authorized" }).waitFor();
    result.focus_kept = await page.evaluate(() => document.activeElement?.getAttribute("aria-label"));
    await page.getByLabel("Authorize phone", { exact: true }).waitFor();
    result.listed_authorized = await page.getByLabel("Authorize phone", { exact: true }).isChecked();
    result.listed = await page.locator("#member-rows").textContent();
    result.steps.push("authorized " + member);

    // Access that ends by itself: 2h from now, shown as time left.
    const ends = page.getByLabel("Access of phone ends (30m, 12h, 7d or never)", { exact: true });
    await ends.fill("2h");
    await ends.press("Enter");
    await rowNote.filter({ hasText: "access ends" }).waitFor();
    const m2 = await (await fetch(`${base}/controller/network/${nwid}/member/${member}`, { headers: { "X-ZT1-Auth": token } })).json();
    const left = m2.expiresAt - Date.now();
    result.expiry_ok = left > 7100000 && left <= 7200000
      && (await page.getByLabel("Access of phone ends (30m, 12h, 7d or never)", { exact: true }).getAttribute("placeholder")) === "in 2 h";
    result.steps.push("access end set");

    // A refused change: the row shows the server's reason and the field goes back.
    const ips = page.getByLabel("IP addresses of phone", { exact: true });
    const before = await ips.inputValue();
    await ips.fill("300.1.2.3");
    await ips.press("Enter");
    await page.locator(`tr[data-id="${member}"] .rowmsg.error`).waitFor();
    result.refused_note = await rowNote.textContent();
    result.rolled_back = (await ips.inputValue()) === before;
    result.steps.push("refused change rolled back");

    // Block it (confirmed in the dialog): listed as blocked with an Unblock action; unblocking
    // brings back the authorize box (unticked: a block deauthorizes).
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Block phone", exact: true }).click();
    await page.getByRole("button", { name: "Unblock phone", exact: true }).waitFor();
    result.listed_blocked = (await page.locator("#member-rows").textContent()).includes("blocked");
    await page.screenshot({ path: shot, fullPage: true });
    await page.getByRole("button", { name: "Unblock phone", exact: true }).click();
    await page.getByLabel("Authorize phone", { exact: true }).waitFor();
    result.unblocked_unauthorized = !(await page.getByLabel("Authorize phone", { exact: true }).isChecked());
    result.steps.push("blocked and unblocked " + member);

    // A network typed into the settings' pools becomes its usable range, not "a-a".
    await page.getByLabel("Address pools (one per line: first-last or network/bits)").fill("10.50.0.0/24");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    result.pool_note = await page.locator("#status").textContent();
    const saved = await (await fetch(`${base}/controller/network/${nwid}`, { headers: { "X-ZT1-Auth": token } })).json();
    result.pools = saved.ipAssignmentPools;
    result.pool_ok = saved.ipAssignmentPools.length === 1 && saved.ipAssignmentPools[0].ipRangeStart === "10.50.0.1"
      && saved.ipAssignmentPools[0].ipRangeEnd === "10.50.0.254";
    result.steps.push("pool saved from CIDR");

    // A device that asks meanwhile appears without a reload (the list refreshes itself).
    const late = "0badc0ffe2";
    const r2 = await fetch(`${base}/controller/network/${nwid}/member/${late}`, {
      method: "POST",
      headers: { "X-ZT1-Auth": token, "Content-Type": "application/json" },
      body: JSON.stringify({ authorized: false, name: "tablet" }),
    });
    if (!r2.ok) throw new Error("late join request: " + r2.status);
    await page.locator("body").click({ position: { x: 5, y: 5 } });
    await page.getByLabel("Authorize tablet", { exact: true }).waitFor({ timeout: 25000 });
    result.refreshed = true;
    result.steps.push("refresh picked up " + late);

    // Find and Show narrow the list.
    await page.getByLabel("Find", { exact: true }).fill("tabl");
    await page.getByLabel("Authorize phone", { exact: true }).waitFor({ state: "detached" });
    const found = await page.locator("#member-rows").textContent();
    await page.getByLabel("Find", { exact: true }).fill("");
    await page.getByLabel("Show", { exact: true }).selectOption("blocked");
    const blockedOnly = await page.locator("#member-rows").textContent();
    await page.getByLabel("Show", { exact: true }).selectOption("all");
    result.filter_ok = found.includes(late) && !found.includes(member) && blockedOnly.includes("No member matches");
    // Sort by address: 0badc0ffe2 before 0badc0ffee.
    await page.getByLabel("Sort", { exact: true }).selectOption("address");
    result.sorted = await page.locator("#member-rows tr[data-id]").evaluateAll((rows) => rows.map((r) => r.dataset.id));
    await page.getByLabel("Sort", { exact: true }).selectOption("waiting");
    result.steps.push("filtered");

    // Back on the network list, the two unauthorized devices show as waiting.
    await page.getByRole("button", { name: "← All networks" }).click();
    await page.locator("#network-rows", { hasText: "(2 waiting)" }).waitFor();
    result.waiting_shown = true;
    result.steps.push("pending count listed");

    // Back and Forward move between the screens.
    await page.goBack();
    await page.getByRole("heading", { name: "browser-net", exact: true }).waitFor();
    await page.goForward();
    await page.getByRole("heading", { name: "Networks", exact: true }).waitFor();
    result.back_forward = true;
    result.steps.push("back and forward");

    // A second network whose pool overlaps the first one's is created with a warning.
    await page.getByLabel("New network name", { exact: true }).fill("overlap-net");
    await page.getByLabel("Address pool", { exact: true }).fill("10.50.0.0/25");
    await page.getByRole("button", { name: "Create network" }).click();
    await page.locator("#status", { hasText: "Created network" }).waitFor();
    result.overlap_note = await page.locator("#status").textContent();
    result.steps.push("overlap warned");

    // Deep link into the first network; the page derives IPv6 addresses once rfc4193 is on.
    await page.goto(`${base}/#/network/${nwid}`);
    await page.getByRole("heading", { name: "browser-net", exact: true }).waitFor();
    await page.getByLabel("IPv6 rfc4193 addresses").check();
    await page.getByLabel(/Members relay through this router/).check();
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.locator("#status", { hasText: "Saved" }).waitFor();
    // The router is now the network's relay (sent to members as a 1.16 network relay).
    const st = await (await fetch(`${base}/status`, { headers: { "X-ZT1-Auth": token } })).json();
    const net = await (await fetch(`${base}/controller/network/${nwid}`, { headers: { "X-ZT1-Auth": token } })).json();
    result.relays_ok = JSON.stringify(net.relays) === JSON.stringify([st.address])
      && await page.getByLabel(/Members relay through this router/).isChecked();
    // A waiting device shows when it first asked; typing its name and pressing Enter
    // authorizes it under that name in one step.
    result.first_asked = await page.locator(`tr[data-id="${late}"]`).textContent();
    const lateName = page.getByLabel("Name of " + late, { exact: true });
    await lateName.fill("kitchen tablet");
    await lateName.press("Enter");
    const lateNote = page.locator(`tr[data-id="${late}"] .rowmsg`);
    await lateNote.filter({ hasText: "authorized as kitchen tablet" }).waitFor();
    const lm = await (await fetch(`${base}/controller/network/${nwid}/member/${late}`, { headers: { "X-ZT1-Auth": token } })).json();
    result.authorized_named = lm.authorized === true && lm.name === "kitchen tablet";
    const desc = page.getByLabel("Description of kitchen tablet", { exact: true });
    await desc.fill("by the fridge");
    await desc.press("Enter");
    await lateNote.filter({ hasText: "description saved" }).waitFor();
    const lm2 = await (await fetch(`${base}/controller/network/${nwid}/member/${late}`, { headers: { "X-ZT1-Auth": token } })).json();
    result.description = lm2.description;
    // The rfc4193 address shown: fd ‖ network ID ‖ 9993 ‖ member, in canonical form.
    const hex = "fd" + nwid + "9993" + late;
    result.v6_expected = new URL(`http://[${hex.match(/.{4}/g).join(":")}]/`).hostname.slice(1, -1) + "/88";
    result.v6_shown = await page.locator(`tr[data-id="${late}"] .v6`).first().textContent();
    // Copying the network ID (a LAN page over HTTP copies through a selected field).
    await page.getByRole("button", { name: "Copy network ID" }).click();
    await page.locator("#status", { hasText: /Copied|Could not copy/ }).waitFor();
    result.copied = await page.locator("#status").textContent();
    result.clipboard = await page.evaluate(() => Promise.race([navigator.clipboard.readText(),
      new Promise((resolve) => setTimeout(() => resolve("(clipboard not readable)"), 5000))]));
    result.steps.push("authorized and named, described, IPv6 shown, copied");
    result.ok = result.listed_authorized && result.listed.includes(member) && result.backups.includes("ztcd-backup-")
      && result.rolled_back && result.focus_kept === "Authorize phone"
      && result.listed_blocked && result.unblocked_unauthorized && result.pool_ok && result.waiting_shown && result.moon_hidden && result.join_ok && result.refreshed && result.hash === `#/network/${nwid}` && result.expiry_ok && result.filter_ok
      && result.back_forward && result.overlap_note.includes("overlaps 10.50.0.1-10.50.0.254 of browser-net")
      && result.first_asked.includes("first asked") && result.authorized_named
      && result.description === "by the fridge" && result.v6_shown === result.v6_expected
      && result.copied === "Copied the network ID: " + nwid && result.clipboard === nwid && result.relays_ok;
  } catch (e) {
    result.error = String(e);
    try { await page.screenshot({ path: shot, fullPage: true }); } catch (_) { /* ignore */ }
  }
  result.page_errors = errors;
  await browser.close();
  console.log(JSON.stringify(result));
  process.exit(result.ok && errors.length === 0 ? 0 : 1);
}

main().catch((e) => { console.log(JSON.stringify({ ok: false, error: String(e) })); process.exit(1); });
