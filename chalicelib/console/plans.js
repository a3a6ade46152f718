// Plans (docs/console.md): the list filtered by kind and status, a one-off plan's form
// (draft or send, now or at a time in the shop's zone), send / cancel, performance.
"use strict";

document.addEventListener("alpine:init", () => {
  const STATUSES = ["draft", "scheduled", "in_progress", "sent", "cancelled", "active", "paused", "ended"];
  const FIGURES = ["recipients", "delivered", "failed", "read", "clicked", "replied", "unsubscribed",
                   "orders", "vouchers_claimed", "vouchers_redeemed"];
  let keys = 0;

  function path(id, action) {
    return "/v1/plans/" + encodeURIComponent(id) + (action ? "/" + action : "");
  }

  Alpine.data("plans", () => ({
    items: [], cursor: null, kind: "", status: "", loading: false, statuses: STATUSES, figures: FIGURES,
    selected: null, perf: null, form: null, notice: "", warnings: [],
    segments: [], products: [], vouchers: [], templates: [],
    async init() { await this.load(); },
    async load(more = false) {
      const query = new URLSearchParams({ limit: "50" });
      if (this.kind) query.set("kind", this.kind);
      if (this.status) query.set("status", this.status);
      if (more && this.cursor) query.set("cursor", this.cursor);
      const page = await crm.run(this, () => crm.api("GET", "/v1/plans?" + query));
      if (!page) return;
      this.items = more ? [...this.items, ...page.items] : page.items;
      this.cursor = page.next_cursor;
    },
    async startNew() {
      this.notice = "";
      this.warnings = [];
      const got = await crm.run(this, () => Promise.all([
        crm.all("/v1/segments"), crm.all("/v1/products"), crm.all("/v1/vouchers"),
        crm.all("/v1/templates?kind=one_off"),
      ]));
      if (!got) return;
      [this.segments, this.products, this.vouchers, this.templates] = got;
      this.form = {
        name: "", segment_ids: [], exclude: "", contentMode: "text", template_id: "",
        texts: [{ key: ++keys, locale: Alpine.store("ui").shop.default_locale || "en", text: "" }],
        product_ids: [], voucherMode: "none", voucher_id: "", when: "now", send_at: "",
      };
    },
    addLanguage() { this.form.texts.push({ key: ++keys, locale: "", text: "" }); },
    body(action) {
      const f = this.form;
      const content = f.contentMode === "template" ? { template_id: f.template_id }
        : { text: Object.fromEntries(f.texts.filter((t) => t.locale || t.text).map((t) => [t.locale, t.text])) };
      const voucher = f.voucherMode === "none" ? null
        : f.voucherMode === "smart" ? { mode: "smart" } : { mode: "chosen", voucher_id: f.voucher_id };
      return {
        name: f.name, kind: "one_off", channels: ["chat"], action, content, voucher,
        audience: { segment_ids: [...f.segment_ids], exclude_segment_ids: f.exclude ? [f.exclude] : [] },
        product_ids: [...f.product_ids],
        // a time without an offset is read in the shop's time zone (docs/api.md)
        send_at: f.when === "at" && f.send_at ? (f.send_at.length === 16 ? f.send_at + ":00" : f.send_at) : null,
      };
    },
    async create(action) {
      if (this.form.product_ids.length < 1 || this.form.product_ids.length > 4) {
        crm.show(new Error("Attach 1 to 4 products (product_ids)."));
        return;
      }
      const plan = await crm.run(this, () => crm.api("POST", "/v1/plans", { body: this.body(action) }));
      if (!plan) return;
      this.form = null;
      this.warnings = plan.warnings || [];
      this.notice = "\u201c" + plan.name + "\u201d is " + plan.status.replace("_", " ")
        + (plan.send_at ? ", sending " + fmt.zoned(plan.send_at) : "") + ".";
      await this.load();
    },
    async act(plan, action) {
      const got = await crm.run(this, () => crm.api("POST", path(plan.plan_id, action)));
      if (!got) return;
      this.warnings = got.warnings || [];
      this.notice = "\u201c" + got.name + "\u201d is " + got.status.replace("_", " ") + ".";
      await this.load();
      if (this.selected && this.selected.plan_id === got.plan_id) this.selected = got;
    },
    async open(plan) {
      this.selected = plan;
      this.perf = null;
      const got = await crm.run(this, () => Promise.all([
        crm.api("GET", path(plan.plan_id)), crm.api("GET", path(plan.plan_id, "performance")),
      ]));
      if (!got) return;
      [this.selected, this.perf] = got;
    },
  }));
});
