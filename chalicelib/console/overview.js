// Overview (docs/console.md): GET /v1/overview?days= and GET /v1/segments for the built-in
// segments' names. Charts by Chart.js, kept outside Alpine's reactive state.
"use strict";

document.addEventListener("alpine:init", () => {
  const BUILTINS = ["potential_new", "recent", "repeat", "loyal", "lapsed", "new_followers", "active_followers"];
  const COLORS = { reached: "#3b6fd8", read: "#2e9e6b", clicked: "#d9892b", orders: "#b2456e", gmv: "#6b5bd2" };

  Alpine.data("overview", () => {
    let charts = [];   // Chart.js objects must not be wrapped in Alpine's proxies
    return {
      days: 30, data: null, names: {}, loading: false,
      steps: [{ key: "reached", label: "Reached" }, { key: "read", label: "Read" },
              { key: "clicked", label: "Clicked" }, { key: "ordered", label: "Ordered" }],
      async init() { await this.load(); },
      destroy() { charts.forEach((c) => c.destroy()); charts = []; },
      get segmentRows() {
        if (!this.data) return [];
        return BUILTINS.map((id) => ({ id, name: this.names[id] || id, size: this.data.segments[id] }));
      },
      async load() {
        const got = await crm.run(this, () => Promise.all([
          crm.api("GET", "/v1/overview?days=" + this.days),
          crm.all("/v1/segments"),
        ]));
        if (!got) return;
        const [overview, segments] = got;
        this.names = Object.fromEntries(segments.map((s) => [s.segment_id, s.name]));
        this.data = overview;
        this.$nextTick(() => this.draw());
      },
      draw() {
        this.destroy();
        const d = Alpine.raw(this.data);
        if (!this.$refs.funnel || !window.Chart) return;
        charts.push(new Chart(this.$refs.funnel, {
          type: "bar",
          data: {
            labels: this.steps.map((s) => s.label),
            datasets: [{ label: "customers", data: this.steps.map((s) => d.funnel[s.key]),
                         backgroundColor: [COLORS.reached, COLORS.read, COLORS.clicked, COLORS.orders] }],
          },
          options: { indexAxis: "y", maintainAspectRatio: false, animation: false,
                     plugins: { legend: { display: false } } },
        }));
        const days = d.daily.map((x) => x.date);
        const line = (key, label) => ({ label, data: d.daily.map((x) => x[key]), borderColor: COLORS[key],
                                        backgroundColor: COLORS[key], tension: 0, pointRadius: 0, yAxisID: "y" });
        charts.push(new Chart(this.$refs.daily, {
          type: "line",
          data: {
            labels: days,
            datasets: [line("reached", "reached"), line("read", "read"), line("clicked", "clicked"),
                       line("orders", "orders"),
                       { ...line("gmv", "GMV"), data: d.daily.map((x) => Number(x.gmv)), yAxisID: "money", borderDash: [4, 3] }],
          },
          options: { maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false },
                     scales: { y: { beginAtZero: true, title: { display: true, text: "customers / orders" } },
                               money: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                                        title: { display: true, text: "GMV" } } } },
        }));
      },
    };
  });
});
