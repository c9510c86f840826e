"use strict";
// The ztcd LAN page: a thin client of the zerotier-one JSON API served by the same daemon.
// Every call carries the token in the X-ZT1-Auth header (no cookies, so no CSRF).
(() => {
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem("ztcd-token") || "";
  let me = null;
  let current = null;
  let lastMembers = [];

  function say(text, error) {
    const s = $("status");
    s.textContent = text || "";
    s.className = error ? "error" : "";
  }

  async function api(method, path, body) {
    const opts = { method, headers: { "X-ZT1-Auth": token } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    const type = r.headers.get("Content-Type") || "";
    const data = type.startsWith("application/json") ? await r.json() : await r.blob();
    if (!r.ok) {
      if (r.status === 401) showLogin();
      throw new Error((data && data.message) || r.status + " " + r.statusText);
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k in e && typeof v !== "string") e[k] = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  function ago(ms) {
    if (!ms) return "never";
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return new Date(ms).toLocaleDateString();
  }

  // "in 3 d", "in 5 h", "in 12 min" or "ended" for an end time; "" for none.
  function until(ms) {
    if (!ms) return "";
    const s = Math.round((ms - Date.now()) / 1000);
    if (s <= 0) return "ended";
    if (s < 7200) return "in " + Math.max(1, Math.round(s / 60)) + " min";
    if (s < 172800) return "in " + Math.round(s / 3600) + " h";
    return "in " + Math.round(s / 86400) + " d";
  }

  // "30m", "12h", "7d" from now, or "never"/"" (no end); throws on anything else.
  function endOf(text) {
    const t = text.trim();
    if (t === "" || t === "never") return null;
    const m = /^(\d+)\s*([mhd])$/.exec(t);
    if (!m || Number(m[1]) === 0) throw new Error("access end: expected e.g. 30m, 12h, 7d or never");
    return Date.now() + Number(m[1]) * { m: 60000, h: 3600000, d: 86400000 }[m[2]];
  }

  function show(section) {
    for (const id of ["login", "networks", "network"]) $(id).hidden = id !== section;
    $("logout").hidden = section === "login";
  }

  function showLogin() {
    show("login");
    $("token").focus();
  }

  async function start() {
    try {
      me = await api("GET", "/status");
      $("node").textContent = "node " + me.address;
      // Offer the moon only when this node serves one.
      $("dl-moon").hidden = !me.ztcdMoon;
      await route();
    } catch (e) {
      say(e.message, true);
    }
  }

  // Screens have addresses (#/network/ID), so reload and the browser's Back work.
  async function route() {
    const m = /^#\/network\/([0-9a-f]{16})$/.exec(location.hash);
    if (m) await openNetwork(m[1]);
    else await loadNetworks();
  }

  function go(id) {
    location.hash = id ? "#/network/" + id : "#/";
  }

  async function loadNetworks() {
    const list = await api("GET", "/unstable/controller/network");
    const rows = $("network-rows");
    rows.replaceChildren();
    for (const n of list.data) {
      rows.append(el("tr", {},
        el("td", {}, el("button", { type: "button", class: "link", onclick: () => go(n.id) }, n.name || "(unnamed)")),
        el("td", {}, el("code", {}, n.id)),
        el("td", {}, `${n.meta.authorizedMemberCount} / ${n.meta.totalMemberCount}`,
          n.private && n.meta.totalMemberCount > n.meta.authorizedMemberCount
            ? el("span", { class: "pending" }, ` (${n.meta.totalMemberCount - n.meta.authorizedMemberCount} waiting)`)
            : ""),
        el("td", {}, n.private ? "private" : "public"),
        el("td", {}, el("button", { type: "button", onclick: () => go(n.id), "aria-label": "Open " + (n.name || n.id) }, "Open"))));
    }
    if (!list.data.length) rows.append(el("tr", {}, el("td", { colspan: "5" }, "No networks yet.")));
    show("networks");
    await loadRoots();
    await loadBackups();
  }

  // The planet's roots: this router, and any other root sharing the planet with when it last
  // answered (a root that moved is followed through the others).
  async function loadRoots() {
    const st = await api("GET", "/status");
    $("planet-info").textContent = "Planet " + st.planetWorldId + ", issued " +
      new Date(st.planetWorldTimestamp).toLocaleString();
    const rows = $("root-rows");
    rows.replaceChildren();
    for (const r of st.ztcdRoots || []) {
      const heard = r.self ? "this router"
        : r.lastHeard ? ago(r.lastHeard) + (r.latency != null ? " (" + r.latency + " ms)" : "")
        : "not yet";
      rows.append(el("tr", {},
        el("td", {}, el("code", {}, r.address)),
        el("td", {}, r.endpoints.join(", ")),
        el("td", {}, heard)));
    }
  }

  async function loadBackups() {
    const ul = $("backup-list");
    ul.replaceChildren();
    try {
      const b = await api("GET", "/ztcd/backups");
      $("backup-target").textContent = "to " + b.target;
      $("backup-now").disabled = false;
      for (const f of b.backups) {
        // ztcd-backup-20261123T031700Z-12.ztb: taken 2026-11-23 03:17:00 UTC.
        const t = /(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/.exec(f.name);
        const when = t ? new Date(Date.UTC(t[1], t[2] - 1, t[3], t[4], t[5], t[6])).toLocaleString() : "";
        ul.append(el("li", {}, when ? `${when}: ` : "", el("code", {}, f.name), ` (${Math.ceil(f.size / 1024)} KiB) `,
          el("button", { type: "button", class: "link", "aria-label": "Download " + f.name,
            onclick: () => download("/ztcd/backups/" + f.name, f.name) }, "download")));
      }
      if (!b.backups.length) ul.append(el("li", {}, "No backups yet."));
    } catch (e) {
      $("backup-target").textContent = e.message;
      $("backup-now").disabled = true;
    }
  }

  $("backup-now").addEventListener("click", async () => {
    try {
      say("Backing up…");
      const r = await api("POST", "/ztcd/backup");
      say("Backup written: " + r.summary);
      await loadBackups();
    } catch (e) {
      say(e.message, true);
    }
  });

  function ipNum(ip) { return ip.split(".").reduce((a, b) => a * 256 + Number(b), 0); }
  function ipStr(n) { return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join("."); }

  // The rfc4193 and 6plane addresses of member `id` on network `nwid` (both hex), as the
  // controller derives them: fd ‖ nwid ‖ 9993 ‖ member /88, and fc ‖ (nwid high ⊕ low) ‖
  // member ‖ 0… ‖ 01 /40.
  function v6Of(nwid, id, modes) {
    // Eight groups without leading zeros, the longest run of two or more zero groups as "::".
    const groups = (hex) => {
      const g = hex.match(/.{4}/g).map((x) => x.replace(/^0{1,3}/, ""));
      let best = [0, 0];
      for (let i = 0; i < 8; ++i) {
        let j = i;
        while (j < 8 && g[j] === "0") ++j;
        if (j - i > best[1] - best[0]) best = [i, j];
      }
      if (best[1] - best[0] < 2) return g.join(":");
      return g.slice(0, best[0]).join(":") + "::" + g.slice(best[1]).join(":");
    };
    const out = [];
    if (modes.rfc4193) out.push(groups("fd" + nwid + "9993" + id) + "/88");
    if (modes["6plane"]) {
      const folded = ((parseInt(nwid.slice(0, 8), 16) ^ parseInt(nwid.slice(8), 16)) >>> 0).toString(16).padStart(8, "0");
      out.push(groups("fc" + folded + id + "000000000001") + "/40");
    }
    return out;
  }

  // Pools of other networks that share an address with `pools` (first-last pairs).
  async function overlapping(pools, self) {
    const list = await api("GET", "/unstable/controller/network");
    const hits = [];
    for (const n of list.data) {
      if (n.id === self) continue;
      for (const q of n.ipAssignmentPools || []) {
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(q.ipRangeStart)) continue;
        for (const p of pools) {
          if (!/^\d+\.\d+\.\d+\.\d+$/.test(p.ipRangeStart)) continue;
          if (ipNum(p.ipRangeStart) <= ipNum(q.ipRangeEnd) && ipNum(q.ipRangeStart) <= ipNum(p.ipRangeEnd)) {
            hits.push(`${p.ipRangeStart}-${p.ipRangeEnd} overlaps ${q.ipRangeStart}-${q.ipRangeEnd} of ${n.name || n.id}`);
          }
        }
      }
    }
    return hits;
  }

  // Copies `text` through a selected field, which works on a LAN page over plain HTTP (the
  // clipboard API, tried second, needs HTTPS or localhost).
  async function copy(text, what) {
    try {
      const t = el("textarea", { readonly: "", class: "sr" });
      t.value = text;
      document.body.append(t);
      t.select();
      const ok = document.execCommand("copy");
      t.remove();
      if (!ok) {
        if (!navigator.clipboard) throw new Error("the browser refused");
        await navigator.clipboard.writeText(text);
      }
      say("Copied " + what + ": " + text);
    } catch (e) {
      say(`Could not copy ${what} (${e.message}); select it and copy: ${text}`, true);
    }
  }

  function poolOf(cidr) {
    const [ip, bits] = cidr.trim().split("/");
    const b = Number(bits);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !(b >= 8 && b <= 30)) throw new Error("pool: expected an IPv4 network such as 10.147.17.0/24");
    const size = 2 ** (32 - b);
    const base = Math.floor(ipNum(ip) / size) * size;
    return { target: ipStr(base) + "/" + b, first: ipStr(base + 1), last: ipStr(base + size - 2) };
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem("ztcd-token", token);
    say("");
    await start();
  });

  $("logout").addEventListener("click", () => {
    token = "";
    sessionStorage.removeItem("ztcd-token");
    showLogin();
  });

  $("create-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const p = poolOf($("new-pool").value);
      const n = await api("POST", `/controller/network/${me.address}______`, {
        name: $("new-name").value,
        private: true,
        v4AssignMode: { zt: true },
        ipAssignmentPools: [{ ipRangeStart: p.first, ipRangeEnd: p.last }],
        routes: [{ target: p.target, via: null }],
      });
      const pool = { ipRangeStart: p.first, ipRangeEnd: p.last };
      const hits = await overlapping([pool], n.id);
      say(`Created network ${n.id}: addresses ${p.first} to ${p.last}` +
        (hits.length ? `. Note: the pool ${hits[0]}; devices on both networks may get the same address.` : "."));
      $("new-name").value = "";
      await loadNetworks();
    } catch (e) {
      say(e.message, true);
    }
  });

  async function openNetwork(id) {
    try {
      const n = await api("GET", "/controller/network/" + id);
      current = n;
      $("network-h").textContent = n.name || "(unnamed)";
      $("nwid").textContent = n.id;
      $("join-nwid").value = n.id;
      if (current?.id !== $("nwid").dataset.shown) {
        $("m-filter").value = "";
        $("m-show").value = "all";
        $("nwid").dataset.shown = n.id;
      }
      $("join-curl").textContent = `curl -o planet ${location.origin}/ztcd/planet`;
      $("join-linux").textContent = `sudo zerotier-cli join ${n.id}`;
      $("join-mac").textContent = `sudo zerotier-cli join ${n.id}`;
      $("join-win").textContent = `zerotier-cli join ${n.id}`;
      $("join-libzt").textContent = `zts_net_join(0x${n.id})`;
      $("s-name").value = n.name;
      $("s-private").checked = n.private;
      $("s-pools").value = n.ipAssignmentPools.map((p) => p.ipRangeStart + "-" + p.ipRangeEnd).join("\n");
      $("s-routes").value = n.routes.map((r) => r.target + (r.via ? " via " + r.via : "")).join("\n");
      const dns = Array.isArray(n.dns) ? { domain: "", servers: [] } : n.dns;
      $("s-dns-domain").value = dns.domain;
      $("s-dns-servers").value = dns.servers.join(", ");
      $("s-rfc4193").checked = n.v6AssignMode.rfc4193;
      $("s-6plane").checked = n.v6AssignMode["6plane"];
      $("s-relay").checked = (n.relays || []).includes(me.address);
      showRulesSource(n);
      show("network");
      await loadMembers();
      await loadWindow();
    } catch (e) {
      say(e.message, true);
    }
  }

  // The rules editor shows the network's source; rules set as JSON by another tool have none.
  function showRulesSource(n) {
    const src = $("rules-src");
    src.setAttribute("aria-invalid", "false");
    const plain = n.rules.length === 1 && n.rules[0].type === "ACTION_ACCEPT";
    src.value = n.rulesSource || (plain ? "accept;\n" : "");
    $("rules-msg").textContent = n.rulesSource || plain ? ""
      : `These ${n.rules.length} rules were set without a source; saving a source replaces them.`;
  }

  // Compiles the source; an error is shown under it and its place selected in it.
  async function compileRules() {
    const src = $("rules-src");
    const r = await fetch("/ztcd/rules/compile", {
      method: "POST",
      headers: { "X-ZT1-Auth": token, "Content-Type": "application/json" },
      body: JSON.stringify({ source: src.value }),
    });
    const data = await r.json();
    if (r.status === 401) showLogin();
    if (!r.ok) {
      src.setAttribute("aria-invalid", "true");
      $("rules-msg").textContent = data.message;
      if (data.line) {
        const lines = src.value.split("\n");
        let at = 0;
        for (let i = 0; i < data.line - 1 && i < lines.length; ++i) at += lines[i].length + 1;
        at += Math.max(0, data.column - 1);
        const end = src.value.slice(at).search(/\s|$/);
        src.focus();
        src.setSelectionRange(at, at + Math.max(1, end));
      }
      return null;
    }
    src.setAttribute("aria-invalid", "false");
    return data;
  }

  // The approval window: open or not, how long and how many are left, who came in.
  async function loadWindow() {
    const w = await api("GET", `/ztcd/network/${current.id}/window`);
    $("w-state").textContent = w.open
      ? `Open until ${new Date(w.closesAt).toLocaleTimeString()}: ${w.admittedCount} of ${w.maxDevices} devices joined.`
      : "Closed: new devices wait for authorization.";
    $("w-close").disabled = !w.open;
    const ul = $("w-admitted");
    ul.replaceChildren();
    for (const a of w.admitted) {
      ul.append(el("li", {}, el("code", {}, a.address),
        ` let in ${ago(a.at)}` + (a.physicalAddress ? ` from ${a.physicalAddress}` : "")));
    }
  }

  async function loadMembers() {
    const members = await api("GET", `/controller/network/${current.id}/member?details=1`);
    // Devices waiting for authorization first, then members, blocked ones last.
    sortMembers(members);
    lastMembers = members;
    renderMembers();
  }

  // Which members the list shows: the "Find" text (address, name or IP) and the "Show" choice.
  function shown(m) {
    const q = $("m-filter").value.trim().toLowerCase();
    const text = [m.id, m.name, m.description || "", ...m.ipAssignments].join(" ").toLowerCase();
    const kind = {
      all: true,
      waiting: !m.authorized && !m.banned,
      online: m.online,
      authorized: m.authorized,
      blocked: m.banned,
    }[$("m-show").value];
    return kind && (!q || text.includes(q));
  }

  // Waiting devices first (then members, blocked ones last), or by address, name or when
  // last seen (newest first).
  function sortMembers(members) {
    const rank = (m) => (m.banned ? 2 : m.authorized ? 1 : 0);
    const by = {
      waiting: (a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id),
      address: (a, b) => a.id.localeCompare(b.id),
      name: (a, b) => (a.name || "\uffff").localeCompare(b.name || "\uffff") || a.id.localeCompare(b.id),
      seen: (a, b) => (b.lastSeen || 0) - (a.lastSeen || 0),
    }[$("m-sort").value] || ((a, b) => rank(a) - rank(b));
    members.sort(by);
  }

  function renderMembers() {
    sortMembers(lastMembers);
    const members = lastMembers.filter(shown);
    const rows = $("member-rows");
    // Rows are rebuilt from the list; the field that had focus gets it back.
    const focused = rows.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    rows.replaceChildren(...members.map(memberRow));
    if (!lastMembers.length) rows.append(el("tr", {}, el("td", { colspan: "8" }, "No members yet: join a device to " + current.id + ".")));
    else if (!members.length) rows.append(el("tr", {}, el("td", { colspan: "8" }, "No member matches.")));
    if (focused) rows.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
    const waiting = lastMembers.filter((m) => !m.authorized && !m.banned);
    $("bulk-authorize").hidden = waiting.length < 2;
    $("bulk-authorize").textContent = `Authorize all ${waiting.length} waiting`;
  }

  // Saves `body` for member `m` from its row: the row says "saving", then "saved" or the
  // server's message; a refused change puts the control back as it was.
  async function saveMember(m, body, what, row, undo) {
    const note = row.querySelector(".rowmsg");
    // Taken before the controls are disabled (which moves the focus away).
    const focused = row.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    const controls = row.querySelectorAll("input, button");
    note.className = "rowmsg";
    note.textContent = "saving…";
    row.setAttribute("aria-busy", "true");
    controls.forEach((c) => { c.disabled = true; });
    try {
      const saved = await api("POST", `/controller/network/${current.id}/member/${m.id}`, body);
      const i = lastMembers.findIndex((x) => x.id === m.id);
      if (i >= 0) lastMembers[i] = { ...lastMembers[i], ...saved };
      const fresh = memberRow(lastMembers[i] || saved);
      row.replaceWith(fresh);
      fresh.querySelector(".rowmsg").textContent = what;
      if (focused) fresh.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
    } catch (e) {
      controls.forEach((c) => { c.disabled = false; });
      row.removeAttribute("aria-busy");
      if (undo) undo();
      note.className = "rowmsg error";
      note.textContent = e.message;
      if (focused) row.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
    }
  }

  function memberRow(m) {
    const row = el("tr", { "data-id": m.id });
    const post = (body, what, undo) => saveMember(m, body, what, row, undo);
    const label = m.name || m.id;
    const access = m.banned
      ? el("span", { class: "blocked" }, "blocked")
      : el("input", { type: "checkbox", checked: m.authorized, "aria-label": "Authorize " + label,
        onchange: (ev) => {
          const box = ev.target;
          const body = { authorized: box.checked };
          // A name typed into a waiting device's field goes with its authorization.
          const typed = row.querySelector(`[aria-label="Name of ${m.id}"]`)?.value.trim();
          if (box.checked && !m.authorized && typed && typed !== m.name) body.name = typed;
          post(body, box.checked ? "authorized" : "deauthorized", () => { box.checked = !box.checked; });
        } });
    const block = m.banned
      ? el("button", { type: "button", "aria-label": "Unblock " + label,
        onclick: () => post({ banned: false }, "unblocked (it can ask to join again)") }, "Unblock")
      : el("button", { type: "button", "aria-label": "Block " + label,
        onclick: () => {
          if (confirm(`Block ${label}? It is cut off now and refused until unblocked.`)) post({ banned: true }, "blocked");
        } }, "Block");
    const field = (value, attrs, change) => el("input", { type: "text", value, ...attrs,
      onchange: (ev) => { const old = value; const f = ev.target; change(f.value, () => { f.value = old; }); } });
    const waiting = !m.authorized && !m.banned;
    const name = waiting ? waitingName(m, post) : field(m.name, { "aria-label": "Name of " + m.id, placeholder: "name" },
      (v, undo) => post({ name: v }, "renamed", undo));
    const v6 = m.authorized && !m.noAutoAssignIps ? v6Of(current.id, m.id, current.v6AssignMode) : [];
    row.append(
      el("td", { "data-label": "Member" }, el("code", {}, m.id), " ",
        el("button", { type: "button", class: "link", "aria-label": "Copy address " + m.id,
          onclick: () => copy(m.id, "the address") }, "copy"), " ", name, " ",
        field(m.description || "", { "aria-label": "Description of " + label, placeholder: "description" },
          (v, undo) => post({ description: v }, "description saved", undo))),
      el("td", { "data-label": "Authorized" }, access),
      el("td", { "data-label": "Access ends" }, field("", { size: 8, placeholder: until(m.expiresAt) || "never",
        "aria-label": "Access of " + label + " ends (30m, 12h, 7d or never)" }, (v, undo) => {
        let at;
        try { at = endOf(v); } catch (e) {
          undo();
          const note = row.querySelector(".rowmsg");
          note.className = "rowmsg error";
          note.textContent = e.message;
          return;
        }
        post({ expiresAt: at }, at ? "access ends " + until(at) : "access does not end", undo);
      })),
      el("td", { "data-label": "IPs" }, field(m.ipAssignments.join(", "), { "aria-label": "IP addresses of " + label },
        (v, undo) => post({ ipAssignments: v.split(",").map((x) => x.trim()).filter(Boolean) }, "addresses changed", undo)),
      ...v6.map((a) => el("div", { class: "v6" }, el("code", {}, a)))),
      el("td", { "data-label": "Seen" }, m.online ? el("span", { class: "online" }, "online") : ago(m.lastSeen),
        waiting ? el("div", {}, "first asked " + ago(m.creationTime)) : ""),
      el("td", { "data-label": "From" }, m.physicalAddress || ""),
      el("td", { "data-label": "Version" }, m.vMajor >= 0 ? `${m.vMajor}.${m.vMinor}.${m.vRev}` : ""),
      el("td", { "data-label": "Actions" }, block, " ", el("button", { type: "button", class: "danger", "aria-label": "Delete " + label,
        onclick: async () => {
          if (!confirm(`Delete ${label}? It is cut off now; if it asks again it shows up as a new join request (use Block to refuse it for good).`)) return;
          try {
            await api("DELETE", `/controller/network/${current.id}/member/${m.id}`);
            say(m.id + " deleted");
            await loadMembers();
          } catch (e) {
            say(e.message, true);
          }
        } }, "Delete"), " ", el("span", { class: "rowmsg", role: "status" })));
    return row;
  }

  // A waiting device's name field and an Authorize button: typing a name and pressing Enter
  // (or the button) authorizes it under that name in one save. A name typed and left without
  // authorizing is saved on its own.
  function waitingName(m, post) {
    const input = el("input", { type: "text", value: m.name, "aria-label": "Name of " + m.id,
      placeholder: "name, then Authorize" });
    let sent = false;
    const authorize = () => (sent = true) && post({ authorized: true, name: input.value.trim() }, "authorized as " + (input.value.trim() || m.id));
    const button = el("button", { type: "button", "aria-label": "Authorize " + m.id + " with this name", onclick: authorize },
      "Authorize");
    input.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); authorize(); } });
    input.addEventListener("blur", (ev) => {
      const row = input.closest("tr");
      const into = ev.relatedTarget;
      if (sent || input.value === m.name || (into && row && row.contains(into) && into.matches("button, input[type=checkbox]"))) return;
      post({ name: input.value }, "renamed", () => { input.value = m.name; });
    });
    return el("span", { class: "row" }, input, button);
  }

  // Every device waiting for authorization, one after the other; each row reports its own.
  $("bulk-authorize").addEventListener("click", async () => {
    const button = $("bulk-authorize");
    button.disabled = true;
    const waiting = lastMembers.filter((m) => !m.authorized && !m.banned && shown(m));
    for (const m of waiting) {
      const row = $("member-rows").querySelector(`tr[data-id="${m.id}"]`);
      if (row) await saveMember(m, { authorized: true }, "authorized", row);
    }
    button.disabled = false;
    renderMembers();
  });

  $("settings-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const lines = (id) => $(id).value.split("\n").map((s) => s.trim()).filter(Boolean);
      // Either form per line: a network (10.50.0.0/24: its usable addresses) or first-last.
      const pools = lines("s-pools").map((l) => {
        if (l.includes("/")) {
          const p = poolOf(l);
          return { ipRangeStart: p.first, ipRangeEnd: p.last };
        }
        const [a, b] = l.split("-").map((s) => s.trim());
        return { ipRangeStart: a, ipRangeEnd: b || a };
      });
      const routes = lines("s-routes").map((l) => {
        const [target, , via] = l.split(/\s+/);
        return { target, via: via || null };
      });
      const servers = $("s-dns-servers").value.split(",").map((s) => s.trim()).filter(Boolean);
      const n = await api("POST", "/controller/network/" + current.id, {
        name: $("s-name").value,
        private: $("s-private").checked,
        ipAssignmentPools: pools,
        routes,
        v4AssignMode: { zt: pools.length > 0 },
        v6AssignMode: { rfc4193: $("s-rfc4193").checked, "6plane": $("s-6plane").checked, zt: false },
        dns: { domain: $("s-dns-domain").value.trim(), servers },
        // This router named as the network's relay, other relays set through the API kept.
        relays: [...new Set([...(current.relays || []).filter((a) => a !== me.address),
          ...($("s-relay").checked ? [me.address] : [])])],
      });
      // A pool outside every route gives members addresses they cannot use.
      const inRoutes = (ip) => routes.some((r) => {
        const [net, bits] = (r.target || "").split("/");
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(net || "")) return false;
        const size = 2 ** (32 - Number(bits));
        return Math.floor(ipNum(ip) / size) === Math.floor(ipNum(net) / size);
      });
      const outside = pools.filter((p) => /^\d+\.\d+\.\d+\.\d+$/.test(p.ipRangeStart)
        && !(inRoutes(p.ipRangeStart) && inRoutes(p.ipRangeEnd)));
      const hits = await overlapping(pools, n.id);
      const notes = ["Saved " + n.id];
      if (outside.length) {
        notes.push(`Note: the pool ${outside[0].ipRangeStart}-${outside[0].ipRangeEnd} lies outside the routes, so its addresses are not reachable on the network`);
      }
      if (hits.length) notes.push(`Note: the pool ${hits[0]}; devices on both networks may get the same address`);
      say(notes.join(". ") + ".");
      await openNetwork(n.id);
    } catch (e) {
      say(e.message, true);
    }
  });

  $("delete-network").addEventListener("click", async () => {
    if (!confirm(`Delete network ${current.name || current.id} and all its members?`)) return;
    try {
      await api("DELETE", "/controller/network/" + current.id);
      const gone = current.id;
      history.replaceState(null, "", "#/");
      await loadNetworks();
      say("Deleted " + gone);
    } catch (e) {
      say(e.message, true);
    }
  });

  $("rules-check").addEventListener("click", async () => {
    const c = await compileRules().catch((e) => { $("rules-msg").textContent = e.message; });
    if (c) {
      const n = c.config;
      $("rules-msg").textContent = `No errors: ${n.rules.length} rules, ${n.capabilities.length} capabilities, ${n.tags.length} tags.`;
    }
  });

  $("rules-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const c = await compileRules();
      if (!c) return;
      const body = { ...c.config, rulesSource: $("rules-src").value };
      const n = await api("POST", "/controller/network/" + current.id, body);
      current = n;
      $("rules-msg").textContent = `Saved: ${n.rules.length} rules.`;
    } catch (e) {
      $("rules-msg").textContent = e.message;
    }
  });

  $("window-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const body = { minutes: Number($("w-minutes").value), maxDevices: Number($("w-max").value) };
      await api("POST", `/ztcd/network/${current.id}/window`, body);
      await loadWindow();
    } catch (e) {
      $("w-state").textContent = e.message;
    }
  });

  $("w-close").addEventListener("click", async () => {
    try {
      await api("DELETE", `/ztcd/network/${current.id}/window`);
      await loadWindow();
    } catch (e) {
      $("w-state").textContent = e.message;
    }
  });

  $("add-member").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const a = $("add-addr").value.toLowerCase();
      await api("POST", `/controller/network/${current.id}/member/${a}`, { authorized: true });
      $("add-addr").value = "";
      say(a + " authorized");
      await loadMembers();
    } catch (e) {
      say(e.message, true);
    }
  });

  async function download(path, name) {
    try {
      const blob = await api("GET", path);
      const a = el("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      say(e.message, true);
    }
  }
  // Online state and new join requests stay current: the open network's members are re-read
  // every 10 s, unless an edit is in progress in the list (a focused field keeps its text).
  setInterval(() => {
    const editing = $("member-rows").contains(document.activeElement);
    if (current && token && !$("network").hidden && !editing && !document.hidden) {
      loadMembers().then(loadWindow).catch(() => {});
    }
  }, 10000);

  $("m-filter").addEventListener("input", () => renderMembers());
  $("m-show").addEventListener("change", () => renderMembers());
  $("m-sort").addEventListener("change", () => renderMembers());

  $("dl-planet").addEventListener("click", () => download("/ztcd/planet", "planet"));
  $("join-planet").addEventListener("click", () => download("/ztcd/planet", "planet"));
  // A click selects the whole ID, ready to copy (the clipboard API needs HTTPS).
  $("join-nwid").addEventListener("focus", (ev) => ev.target.select());
  $("dl-moon").addEventListener("click", () => download("/ztcd/moon", "moon"));
  $("copy-nwid").addEventListener("click", () => copy(current.id, "the network ID"));
  // Each join command has a copy button beside it (data-copy names the element to copy).
  for (const b of document.querySelectorAll("button[data-copy]")) {
    b.addEventListener("click", () => copy($(b.dataset.copy).textContent, "the command"));
  }
  $("back").addEventListener("click", () => go(null));
  // A message belongs to the screen it was given on.
  window.addEventListener("hashchange", () => {
    say("");
    if (token) route().catch((e) => say(e.message, true));
  });

  if (token) start(); else showLogin();
})();
