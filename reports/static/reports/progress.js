// Polls the report's status JSON and updates the progress bar until the report is final.
(function () {
  const card = document.getElementById("report");
  if (!card) return;
  const labels = { pending: "Pending", running: "Running", ready: "Ready", failed: "Failed" };
  const bar = document.getElementById("report-progress");
  const status = document.getElementById("report-status");
  const error = document.getElementById("report-error");
  const download = document.getElementById("report-download");
  // Set from script, not a style attribute: the Content-Security-Policy forbids inline styles.
  bar.style.width = bar.parentElement.getAttribute("aria-valuenow") + "%";

  function render(state) {
    bar.style.width = state.progress + "%";
    bar.parentElement.setAttribute("aria-valuenow", state.progress);
    status.textContent = labels[state.status] || state.status;
    status.className = "status status-" + state.status;
    error.textContent = state.error;
    error.hidden = !state.error;
    if (state.download_url) {
      download.href = state.download_url;
      download.hidden = false;
    }
    return state.status === "ready" || state.status === "failed";
  }

  async function poll() {
    try {
      const response = await fetch(card.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok && render(await response.json())) return;
    } catch (e) {
      // Network blip: keep polling.
    }
    setTimeout(poll, 1000);
  }
  poll();
})();
