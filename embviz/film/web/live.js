// embviz live page: appends each snapshot the server streams (/frames) through the explorer's window.embviz.append.
(function () {
  "use strict";
  const status = document.createElement("span");
  status.id = "live-status";
  document.querySelector("header .controls").append(status);
  const shown = [];  // per frame: its step, when its file was written and when it was drawn (s since the epoch)
  let finished = false, source = null, newest = null;

  function say(text) { status.textContent = text; }
  function connect() {
    source = new EventSource(`/frames?from=${window.embviz.snapshotCount()}`);
    source.onmessage = (e) => {
      const f = JSON.parse(e.data);
      if (f.finished) {
        finished = true; source.close();
        say(`training finished · ${window.embviz.snapshotCount()} snapshots`);
        return;
      }
      window.embviz.append(f);
      newest = f.step;
      say(`live · step ${f.step.toLocaleString("en")}`);
      requestAnimationFrame(() => requestAnimationFrame(() => {
        shown.push({ step: f.step, written: f.written, shown: Date.now() / 1000 });
      }));
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
    value: Object.freeze({ finished: () => finished, shown: () => shown.map((x) => ({ ...x })) }),
  });
})();
