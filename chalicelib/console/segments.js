// Segments (docs/console.md): the list with sizes, a rule builder (conditions joined by AND
// or OR, the JSON view for the rest of the grammar), preview, save and explain.
"use strict";

document.addEventListener("alpine:init", () => {
  const ALL_OPS = ["eq", "ne", "in", "not_in", "gte", "lte", "between", "exists"];
  const OPS = {   // API.md "Segments", "Precisely": the ops each attribute takes
    age: ALL_OPS, order_count: ALL_OPS, total_paid: ALL_OPS, avg_order_value: ALL_OPS,
    gender: ["eq", "ne", "in", "not_in", "exists"], region: ["eq", "ne", "in", "not_in", "exists"],
    language: ["eq", "ne", "in", "not_in", "exists"], is_follower: ["eq", "ne"],
    followed_days: ["gte", "lte", "between", "exists"], first_order_at: ["gte", "lte", "between", "exists"],
    last_order_at: ["gte", "lte", "between", "exists"],
  };
  const NUMBERS = ["age", "order_count", "followed_days"];
  const TIMES = ["first_order_at", "last_order_at"];
  const EVENTS = ["order", "order_paid", "order_refunded", "cart_or_review", "view_or_favorite", "engaged",
    "video_engaged", "live_engaged", "cart_added", "cart_removed", "payment_started", "product_viewed",
    "favorited", "review_left", "followed", "unfollowed", "live_viewed", "live_clicked", "video_viewed",
    "video_liked", "video_clicked", "product_card_clicked", "message_read", "message_clicked",
    "message_replied", "voucher_claimed", "voucher_redeemed", "blocked", "unblocked", "unsubscribed"];
  const SIMPLE = ["attr", "event", "tags", "segment"];
  let keys = 0;

  function blank(type = "attr") {
    return { key: ++keys, type, attr: "order_count", op: "gte", value: "1", event: "order", within_days: 30,
             gte: "1", lte: "", mode: "any", names: "", segment: "" };
  }

  function scalar(attr, text) {
    const t = String(text).trim();
    if (attr === "is_follower") return t === "true";
    if (NUMBERS.includes(attr)) return t === "" ? t : Number(t);
    if (TIMES.includes(attr) && /^\d+$/.test(t)) return { days_ago: Number(t) };
    return t;   // money stays a decimal string; text attributes as typed
  }

  function node(c) {
    if (c.type === "attr") {
      let value;
      if (c.op === "exists") value = String(c.value).trim() !== "false";
      else if (c.op === "in" || c.op === "not_in") value = String(c.value).split(",").map((v) => scalar(c.attr, v)).filter((v) => v !== "");
      else if (c.op === "between") value = String(c.value).split(",").map((v) => scalar(c.attr, v));
      else value = scalar(c.attr, c.value);
      return { attr: c.attr, op: c.op, value };
    }
    if (c.type === "event") {
      const count = {};
      if (String(c.gte).trim() !== "") count.gte = Number(c.gte);
      if (String(c.lte).trim() !== "") count.lte = Number(c.lte);
      const out = { event: c.event, within_days: Number(c.within_days) };
      if (Object.keys(count).length) out.count = count;
      return out;
    }
    if (c.type === "tags") return { tags: { [c.mode]: c.names.split(",").map((n) => n.trim()).filter(Boolean) } };
    return { segment: c.segment };
  }

  function text(v) {
    if (Array.isArray(v)) return v.map(text).join(", ");
    if (v && typeof v === "object" && "days_ago" in v) return String(v.days_ago);
    return String(v);
  }

  // A condition of the builder from a rule node, or null when the node needs the JSON view.
  function condition(n) {
    const kind = SIMPLE.find((k) => k in n);
    if (!kind || Object.keys(n).some((k) => !["attr", "op", "value", "event", "within_days", "count", "tags", "segment"].includes(k))) return null;
    const c = blank(kind);
    if (kind === "attr") Object.assign(c, { attr: n.attr, op: n.op, value: text(n.value) });
    if (kind === "event") {
      if (n.plan_id) return null;
      Object.assign(c, { event: n.event, within_days: n.within_days,
                         gte: n.count && n.count.gte !== undefined ? String(n.count.gte) : "",
                         lte: n.count && n.count.lte !== undefined ? String(n.count.lte) : "" });
      if (!n.count) c.gte = "";
    }
    if (kind === "tags") {
      const mode = Object.keys(n.tags)[0];
      Object.assign(c, { mode, names: (n.tags[mode] || []).join(", ") });
    }
    if (kind === "segment") c.segment = n.segment;
    return c;
  }

  Alpine.data("segments", () => ({
    items: [], loading: false, selected: null, explainId: "", explanation: null,
    name: "", join: "all", conditions: [blank()], jsonMode: false, ruleText: "",
    result: null, warnings: [], saved: "",
    attrs: Object.keys(OPS), events: EVENTS,
    async init() { await this.load(); },
    async load() {
      const items = await crm.run(this, () => crm.all("/v1/segments"));
      if (items) this.items = items;
    },
    opsFor(attr) { return OPS[attr] || ALL_OPS; },
    hint(c) {
      if (c.op === "exists") return "true or false";
      if (c.op === "in" || c.op === "not_in") return "a, b, c";
      if (c.op === "between") return TIMES.includes(c.attr) ? "days ago, days ago" : "low, high";
      if (TIMES.includes(c.attr)) return "days ago, or an ISO time";
      if (c.attr === "is_follower") return "true or false";
      return "value";
    },
    addCondition() { this.conditions.push(blank()); },
    resetCondition(c) { Object.assign(c, { ...blank(c.type), key: c.key }); },
    toRule() { return { [this.join]: this.conditions.map(node) }; },
    fromRule(rule) {
      const join = ["all", "any"].find((k) => k in rule && Object.keys(rule).length === 1);
      if (!join || !Array.isArray(rule[join])) return false;
      const conditions = rule[join].map((n) => (n && typeof n === "object" ? condition(n) : null));
      if (conditions.some((c) => c === null)) return false;
      this.join = join;
      this.conditions = conditions;
      return true;
    },
    toggleJson() {
      if (!this.jsonMode) {
        this.ruleText = JSON.stringify(this.toRule(), null, 2);
        this.jsonMode = true;
        return;
      }
      let rule;
      try { rule = JSON.parse(this.ruleText); } catch (e) {
        crm.show(new Error("The rule is not valid JSON: " + e.message));
        return;
      }
      if (!this.fromRule(rule)) {
        crm.show(new Error("This rule needs the JSON view (nesting, not, or per-plan events)."));
        return;
      }
      this.jsonMode = false;
    },
    rule() {
      if (!this.jsonMode) return this.toRule();
      try { return JSON.parse(this.ruleText); } catch (e) {
        crm.show(new Error("The rule is not valid JSON: " + e.message));
        return undefined;
      }
    },
    async preview() {
      const rule = this.rule();
      if (rule === undefined) return;
      this.saved = "";
      const got = await crm.run(this, () => crm.api("POST", "/v1/segments/preview", { body: { rule } }));
      if (!got) return;
      this.result = got;
      this.warnings = got.warnings;
    },
    async save() {
      const rule = this.rule();
      if (rule === undefined) return;
      const got = await crm.run(this, () => crm.api("POST", "/v1/segments", { body: { name: this.name, rule } }));
      if (!got) return;
      this.warnings = got.warnings;
      this.saved = "Saved \u201c" + got.name + "\u201d (" + got.segment_id + ").";
      await this.load();
    },
    select(s) {
      this.selected = s;
      this.explanation = null;
    },
    editCopy() {
      const rule = Alpine.raw(this.selected.rule);
      this.name = this.selected.name + " (copy)";
      if (this.fromRule(rule)) {
        this.jsonMode = false;
      } else {
        this.ruleText = JSON.stringify(rule, null, 2);
        this.jsonMode = true;
      }
    },
    async explain() {
      const path = "/v1/segments/" + encodeURIComponent(this.selected.segment_id) + "/explain/" + encodeURIComponent(this.explainId);
      const got = await crm.run(this, () => crm.api("GET", path));
      if (got) this.explanation = got;
    },
  }));
});
