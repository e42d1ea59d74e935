// embviz live page: the snapshots the server streams (/frames), through the explorer's window.embviz.append.
// A snapshot comes first with a provisional placement, then with its final layout (same index, final true),
// which replaces it; the final ones come in order, so the page's provisional snapshots are its last ones.
(function () {
  "use strict";
  const status = document.createElement("span");
  status.id = "live-status";
  document.querySelector("header .controls").append(status);
  // per snapshot index: its step, when its file was written, when it was first drawn and when its final
  // layout was drawn (s since the epoch; null until then)
  const shown = [];
  let finished = false, source = null, newest = null, settled = 0;

  function say(text) { status.textContent = text; }
  const drawn = (then) => requestAnimationFrame(() => requestAnimationFrame(() => then(Date.now() / 1000)));
  function connect() {
    source = new EventSource(`/frames?from=${settled}`);  // the server sends again every snapshot not yet final here
    source.onmessage = (e) => {
      const f = JSON.parse(e.data);
      if (f.finished) {
        finished = true; source.close();
        say(`training finished · ${window.embviz.snapshotCount()} snapshots`);
        return;
      }
      const fresh = f.index >= window.embviz.snapshotCount();
      if (fresh) window.embviz.append(f); else window.embviz.replace(f.index, f);
      if (f.final && f.index === settled) settled++;
      newest = fresh ? f.step : newest;
      say(`live · step ${newest.toLocaleString("en")}` + (settled < window.embviz.snapshotCount() ? " · laying out…" : ""));
      drawn((now) => {
        if (!shown[f.index]) shown[f.index] = { step: f.step, written: f.written, shown: now, final: null };
        if (f.final && shown[f.index].final === null) shown[f.index].final = now;
      });
    };
    source.onerror = () => {  // the server went away or the stream broke: ask again from what the page holds
      source.close();
      if (finished) return;
      say(newest === null ? "waiting for the server…" : `live · step ${newest.toLocaleString("en")} · reconnecting…`);
      setTimeout(connect, 1000);
    };
  }
  say("live · waiting for the first snapshot");
  connect();
  Object.defineProperty(window, "embvizLive", {
    value: Object.freeze({
      finished: () => finished,
      settled: () => settled,
      shown: () => shown.filter(Boolean).map((x) => ({ ...x })),
    }),
  });
})();
