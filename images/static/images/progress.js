// Polls each unfinished image's status JSON and shows its progress and thumbnails when ready.
(function () {
  const finished = (status) => status === "ready" || status === "failed";

  function render(card, state) {
    card.dataset.status = state.status;
    const status = card.querySelector(".status");
    status.textContent = state.status_label;
    status.className = "status status-" + state.status;
    const error = card.querySelector(".errorlist");
    error.textContent = state.error;
    error.hidden = !state.error;
    const thumbnails = card.querySelector(".thumbnails");
    thumbnails.replaceChildren();
    for (const [size, url] of Object.entries(state.thumbnails)) {
      const link = document.createElement("a");
      link.href = url;
      const img = document.createElement("img");
      img.src = url;
      img.alt = state.name + ", " + size + " px thumbnail"; // text, never HTML
      link.appendChild(img);
      thumbnails.appendChild(link);
    }
  }

  async function poll(card) {
    try {
      const response = await fetch(card.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const state = await response.json();
        render(card, state);
        if (finished(state.status)) return;
      }
    } catch (e) {
      // Network blip: keep polling.
    }
    setTimeout(() => poll(card), 1000);
  }

  document.querySelectorAll("li.image").forEach((card) => {
    if (!finished(card.dataset.status)) poll(card);
  });
})();
