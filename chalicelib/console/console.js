// The seller console's core (docs/console.md): the API client, sign-in, the error banner,
// loading state, formatting and the view switch. Each view is an Alpine component of its
// own file (overview.js, segments.js, plans.js, tags.js).
"use strict";

(() => {
  // The API is served by the same deployment, under the same prefix as this page
  // (/console locally, /<stage>/console behind API Gateway).
  const BASE = location.pathname.replace(/\/console(\/.*)?$/, "");
  const TOKEN_KEY = "crm.console.token";   // sessionStorage only: gone when the tab closes
  const VIEWS = ["overview", "segments", "plans", "tags"];

  class ApiError extends Error {
    constructor(status, error) {
      super(error.message);
      this.status = status;
      this.code = error.code;
      this.details = Array.isArray(error.details) ? error.details : [];
    }
  }

  // One request to the API. Resolves with the parsed body (null when empty); rejects with an
  // ApiError carrying the error contract's code, message and details.
  async function api(method, path, { body, raw, contentType } = {}) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    let payload;
    if (raw !== undefined) {
      payload = raw;
      headers["Content-Type"] = contentType;
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(BASE + path, { method, headers, body: payload });
    } catch (e) {
      throw new ApiError(0, { code: "network", message: "The API could not be reached (" + e.message + ")" });
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!response.ok) {
      const error = data && data.error ? data.error
        : { code: "http_" + response.status, message: "The API answered " + response.status };
      throw new ApiError(response.status, error);
    }
    return data;
  }

  // Every item of a list route, following next_cursor (at most `pages` pages).
  async function all(path, pages = 10) {
    const items = [];
    let cursor = null;
    for (let i = 0; i < pages; i++) {
      const sep = path.includes("?") ? "&" : "?";
      const page = await api("GET", path + sep + "limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items.push(...page.items);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  function ui() { return Alpine.store("ui"); }

  // Run an action for a component: its `loading` flag and the page's progress bar while it
  // runs, and any error in the banner (never swallowed). Resolves with fn's value, or
  // undefined when it failed.
  async function run(owner, fn) {
    const store = ui();
    store.busy++;
    if (owner) owner.loading = true;
    store.error = null;
    try {
      return await fn();
    } catch (e) {
      show(e);
      return undefined;
    } finally {
      store.busy--;
      if (owner) owner.loading = false;
    }
  }

  function show(e) {
    const error = e instanceof ApiError ? e
      : { status: 0, code: "console", message: String(e && e.message ? e.message : e), details: [] };
    ui().error = { status: error.status, code: error.code, message: error.message, details: error.details };
  }

  // A detail of the error contract as words: a field's message, or the detail's own values
  // (402's estimate / balance / currency).
  function describeDetail(d) {
    if (d && typeof d === "object") {
      if (d.message !== undefined) return d.message;
      return Object.entries(d).filter(([k]) => k !== "path").map(([k, v]) => k + " " + JSON.stringify(v)).join(", ");
    }
    return String(d);
  }

  const fmt = {
    int(n) { return n === undefined || n === null ? "—" : Number(n).toLocaleString("en-US"); },
    money(amount, currency) {
      if (amount === undefined || amount === null) return "—";
      const cur = currency || (ui().shop && ui().shop.currency) || "";
      // decimal strings are shown as the API gives them, grouped: never through a float
      const [whole, frac] = String(amount).split(".");
      const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
      return (frac !== undefined ? grouped + "." + frac : grouped) + (cur ? " " + cur : "");
    },
    pct(x) { return x === undefined || x === null ? "—" : (Number(x) * 100).toFixed(1) + "%"; },
    // a UTC time shown in the shop's time zone
    zoned(iso) {
      const tz = (ui().shop && ui().shop.timezone) || "UTC";
      try {
        return new Date(iso).toLocaleString("en-GB", { timeZone: tz, dateStyle: "medium", timeStyle: "short" });
      } catch (e) { return iso; }
    },
  };

  function viewFromHash() {
    const name = location.hash.replace(/^#/, "");
    return VIEWS.includes(name) ? name : "overview";
  }

  window.crm = { api, all, run, show, describeDetail, ApiError, TOKEN_KEY, BASE };
  window.fmt = fmt;

  document.addEventListener("alpine:init", () => {
    Alpine.store("ui", {
      busy: 0, error: null, signedIn: false, view: viewFromHash(), shop: {},
    });
    window.addEventListener("hashchange", () => { ui().view = viewFromHash(); });

    Alpine.data("shell", () => ({
      demoAvailable: false,
      pasted: "",
      async init() {
        if (sessionStorage.getItem(TOKEN_KEY)) await this.enter();
        // The demo shop's button only where the API hands out its token (the local stage).
        try {
          await api("GET", "/v1/local/demo-token");
          this.demoAvailable = true;
        } catch (e) {
          this.demoAvailable = false;   // a 404 on every other stage: paste a token there
        }
      },
      async signInDemo() {
        const body = await run(null, () => api("GET", "/v1/local/demo-token"));
        if (body) await this.signInWith(body.token);
      },
      async signInWith(token) {
        if (!token) return;
        sessionStorage.setItem(TOKEN_KEY, token);
        await this.enter();
      },
      // The token is tried on the shop's settings (which the views need anyway: its name,
      // time zone, currency and default language); refused, it is forgotten.
      async enter() {
        const shop = await run(null, () => api("GET", "/v1/settings"));
        if (!shop) {
          sessionStorage.removeItem(TOKEN_KEY);
          ui().signedIn = false;
          return;
        }
        ui().shop = shop;
        ui().signedIn = true;
        this.pasted = "";
      },
      signOut() {
        sessionStorage.removeItem(TOKEN_KEY);
        ui().signedIn = false;
        ui().shop = {};
        ui().error = null;
      },
    }));
  });
})();
