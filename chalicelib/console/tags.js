// Tags (docs/console.md): the list with each tag's customers (from the health report), the
// health report, and a CSV import with its report.
"use strict";

document.addEventListener("alpine:init", () => {
  Alpine.data("tags", () => ({
    items: [], health: null, loading: false, report: null, region: "", fileName: "",
    async init() { await this.load(); },
    async load() {
      const got = await crm.run(this, () => Promise.all([crm.all("/v1/tags"), crm.api("GET", "/v1/tags/health")]));
      if (!got) return;
      [this.items, this.health] = got;
    },
    usage(tag) {
      return this.health ? this.health.tags.find((u) => u.tag_id === tag.tag_id) : null;
    },
    async upload() {
      const file = this.$refs.file.files[0];
      if (!file) return;
      const query = this.region ? "?default_region=" + encodeURIComponent(this.region) : "";
      const type = file.name.toLowerCase().endsWith(".txt") ? "text/plain" : "text/csv";
      // the file's bytes as they are: the API tells a file that is not UTF-8 apart
      const report = await crm.run(this, () => crm.api("POST", "/v1/imports" + query, { raw: file, contentType: type }));
      if (!report) return;
      this.report = report;
      await this.load();
    },
  }));
});
