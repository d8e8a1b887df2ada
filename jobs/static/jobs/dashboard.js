// Job dashboard: draws the charts and refreshes the page body every few seconds (pausable).
"use strict";
(function () {
  const REFRESH_MS = 5000;
  const body = document.getElementById("dashboard-body");
  const state = document.getElementById("dashboard-refresh-state");
  const pause = document.getElementById("dashboard-pause");
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
          window.location.href = chart.$links[key][hit.index];
        },
      },
    });
    chart.$links = series.links;
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
      const response = await fetch(body.dataset.partialUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      if (response.redirected) throw new Error("logged out? reload the page");
      body.innerHTML = await response.text();
      drawAll();
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
