// Job dashboard: draws the charts and refreshes the page body every few seconds (pausable),
// fetching only the sections whose content changed (each carries a hash of its HTML).
"use strict";
(function () {
  const REFRESH_MS = 5000;
  const body = document.getElementById("dashboard-body");
  const state = document.getElementById("dashboard-refresh-state");
  const pause = document.getElementById("dashboard-pause");
  const at = document.getElementById("dashboard-at");
  const charts = {};
  let paused = window.localStorage.getItem("jobs-dashboard-paused") === "1";
  const colors = { succeeded: "#15803d", retried: "#d97706", failed: "#dc2626" };
  const names = { succeeded: "Succeeded", retried: "Succeeded after retries", failed: "Failed" };

  function chartData() {
    const node = document.getElementById("dashboard-charts");
    return node ? JSON.parse(node.textContent) : null;
  }

  function draw(id, series) {
    const datasets = Object.keys(names).map((key) => ({
      label: names[key], key: key, data: series[key], backgroundColor: colors[key], stack: "jobs",
    }));
    if (charts[id]) {
      charts[id].data.labels = series.labels;
      charts[id].data.datasets.forEach((dataset, i) => { dataset.data = datasets[i].data; });
      charts[id].$links = series.links;
      charts[id].$bounds = series.bounds;
      charts[id].update("none");
      return;
    }
    const chart = new window.Chart(document.getElementById(id), {
      type: "bar",
      data: { labels: series.labels, datasets: datasets },
      options: {
        animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        onClick: (event, elements) => {
          if (!elements.length) return;
          const hit = elements[0];
          const key = chart.data.datasets[hit.datasetIndex].key;
          const bounds = chart.$bounds;
          window.location.href = chart.$links[key] +
            "&finished_at__gte=" + encodeURIComponent(bounds[hit.index]) +
            "&finished_at__lt=" + encodeURIComponent(bounds[hit.index + 1]);
        },
      },
    });
    chart.$links = series.links;
    chart.$bounds = series.bounds;
    charts[id] = chart;
  }

  function drawAll() {
    const data = chartData();
    if (!data || !window.Chart) return;
    draw("chart-minutes", data.minutes);
    draw("chart-hours", data.hours);
  }

  function showState(text) { state.textContent = text; }

  async function refresh() {
    if (paused) return;
    try {
      const have = Array.from(body.querySelectorAll("[data-section]"))
        .map((node) => node.dataset.section + ":" + node.dataset.hash).join(",");
      const url = body.dataset.partialUrl + "&have=" + encodeURIComponent(have);
      const response = await fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      if (response.redirected) throw new Error("logged out? reload the page");
      const answer = await response.json();
      for (const [name, section] of Object.entries(answer.sections)) {
        const node = body.querySelector('[data-section="' + name + '"]');
        if (!node) continue;
        node.innerHTML = section.html;
        node.dataset.hash = section.hash;
      }
      at.textContent = answer.at_text;
      at.dateTime = answer.at;
      if ("charts" in answer.sections) drawAll();
      showState("Refreshes every " + REFRESH_MS / 1000 + " s");
    } catch (error) {
      showState("Refresh failed (" + error.message + "); retrying");
    }
  }

  function applyPaused() {
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", paused ? "true" : "false");
    showState(paused ? "Paused" : "Refreshes every " + REFRESH_MS / 1000 + " s");
  }

  pause.addEventListener("click", () => {
    paused = !paused;
    window.localStorage.setItem("jobs-dashboard-paused", paused ? "1" : "0");
    applyPaused();
    if (!paused) refresh();
  });
  applyPaused();
  drawAll();
  window.setInterval(refresh, REFRESH_MS);
})();
