// A thin wrapper around TradingView Lightweight Charts for the wasm side:
// one price chart (candles / line / area) with a volume histogram, fed whole
// histories and single live bars as JSON. Bars arrive as {t, o, h, l, c, v}
// with `t` in Unix milliseconds.
//
// The library is served from /vendor (copied from the npm package by the build).
import {
  AreaSeries,
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  HistogramSeries,
  LineSeries,
  LineStyle,
  PriceScaleMode,
  createChart,
} from "/vendor/lightweight-charts.mjs";

const UP = "#26c281";
const DOWN = "#f0525b";
const ACCENT = "#4f8cff";
/** Alert levels: the page's warning colour. */
const ALERT = "#f2b440";
const UP_VOLUME = "rgba(38, 194, 129, 0.35)";
const DOWN_VOLUME = "rgba(240, 82, 91, 0.35)";

/** A colour of the page's theme (style/main.css). */
const themeColor = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

// Live bars reach the series at most this often: each update recalculates the
// chart and redraws its canvases, and a busy symbol trades ten times a second.
// The newest state of every bar is drawn; none is skipped. They are drawn in
// the animation frame that the quote table's update draws anyway (bars arrive
// with the diffs), and by a timer only once bars stop coming.
const LIVE_EVERY_MS = 250;
const QUIET_MS = 1000;

const DAY_MS = 86_400_000;
/** Bars from the oldest one at which older ones are asked for. */
const OLDER_MARGIN = 10;
/**
 * A bar's place on the time axis: its real time (Unix seconds, so the hour
 * clocks repeat when they go back is two distinct hours); a daily bar, its
 * trading day's date. Labels are drawn in the chosen clock (`setClock`).
 */
const chartTime = (ms, daily) => (daily ? Math.floor(ms / DAY_MS) * 86_400 : Math.floor(ms / 1000));
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n) => String(n).padStart(2, "0");
/** Shading of a bar by its session code (1 pre-market, 2 after hours, 3 closed); regular bars are not shaded. */
const SHADE = { 1: "rgba(79, 140, 255, 0.11)", 2: "rgba(79, 140, 255, 0.11)", 3: "rgba(138, 150, 163, 0.08)" };

/**
 * Charts of the page whose crosshair and visible time range move together
 * (see `setLinked`), and what is linked. `syncing` is set while one chart
 * moves the others, so their own events do not move it back.
 */
const charts = new Set();
const linked = { crosshair: true, range: true };
let syncing = false;
/** How long after following another chart a chart's own range changes are taken as that move's. */
const FOLLOW_MS = 100;

/**
 * Charts with live bars to draw, drawn one per animation frame: each draw
 * makes the library paint that chart in the next frame, so four charts
 * updating together paint in four frames rather than all in one.
 */
const toDraw = new Set();
let drawFrame = 0;

function drawNext() {
  drawFrame = 0;
  const [next] = toDraw;
  if (!next) return;
  toDraw.delete(next);
  next.draw();
  if (toDraw.size) drawFrame = requestAnimationFrame(drawNext);
}

/** Links (or unlinks) every chart's crosshair and visible time range. */
export function setLinked(crosshair, range) {
  linked.crosshair = crosshair;
  linked.range = range;
}

/** Runs `f` on every chart but `from`, as one move. */
function others(from, f) {
  if (syncing) return;
  syncing = true;
  try {
    for (const chart of charts) if (chart !== from) f(chart);
  } finally {
    syncing = false;
  }
}

export class PriceChart {
  /**
   * @param {HTMLElement} el the container (sized by CSS)
   * @param {(bar: object | null) => void} onHover the bar under the crosshair, or null
   * @param {(atLive: boolean) => void} onScroll whether the newest bar is in view
   * @param {(before: number) => Promise<string | null>} onOlder the bars before a time (JSON), null if they could not be had
   */
  constructor(el, onHover, onScroll, onOlder) {
    this.onOlder = onOlder;
    this.el = el;
    this.bars = [];
    // Live bars and indicator points not drawn yet, by time (and line); when
    // they were last drawn; the newest bar drawn.
    this.pending = new Map();
    this.pendingStudies = new Map();
    this.quietTimer = 0;
    this.lastFlush = -Infinity;
    this.drawnTime = -Infinity;
    this.mode = "candles";
    this.seconds = false;
    // Minutes east of UTC of the clock labels are drawn in (null: the viewer's), and each bar's session (null: no sessions).
    this.offsetOf = null;
    this.sessionOf = null;
    // Alert levels to draw as lines, and the lines drawn (on the shown price series).
    this.levels = [];
    this.levelLines = [];
    // Indicator lines, in the order their live points name them.
    this.studySeries = [];
    // Compared symbols' close lines.
    this.compareSeries = [];
    this.followedAt = -Infinity;
    this.chart = createChart(el, {
      localization: { timeFormatter: (time) => this.formatTime(time) },
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: "transparent" },
        textColor: "#7b8794",
        fontFamily: 'Inter, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
        attributionLogo: true,
      },
      grid: {
        vertLines: { color: "rgba(31, 40, 51, 0.55)" },
        horzLines: { color: "rgba(31, 40, 51, 0.55)" },
      },
      crosshair: { mode: CrosshairMode.Normal },
      rightPriceScale: { borderColor: "#1f2833" },
      timeScale: {
        borderColor: "#1f2833",
        timeVisible: true,
        secondsVisible: false,
        rightOffset: 4,
        tickMarkFormatter: (time, type) => this.formatTick(time, type),
      },
    });
    // Behind everything (series draw in the order they are added): the
    // shading of bars outside the regular session, full height on a scale of its own.
    this.shade = this.chart.addSeries(HistogramSeries, {
      priceScaleId: "session",
      lastValueVisible: false,
      priceLineVisible: false,
      base: 0,
    });
    this.shade.priceScale().applyOptions({ scaleMargins: { top: 0, bottom: 0 }, visible: false });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      borderUpColor: UP,
      borderDownColor: DOWN,
      wickUpColor: UP,
      wickDownColor: DOWN,
    });
    this.line = this.chart.addSeries(LineSeries, { color: ACCENT, lineWidth: 2, visible: false });
    this.area = this.chart.addSeries(AreaSeries, {
      lineColor: ACCENT,
      topColor: "rgba(79, 140, 255, 0.35)",
      bottomColor: "rgba(79, 140, 255, 0.02)",
      lineWidth: 2,
      visible: false,
    });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceScaleId: "",
      priceFormat: { type: "volume" },
      lastValueVisible: false,
      priceLineVisible: false,
    });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.24 } });

    this.onCrosshair = (param) => {
      const bar = param.time === undefined ? null : this.bars[this.indexOf(param.time)];
      onHover(bar ? JSON.stringify(bar) : null);
      if (linked.crosshair) others(this, (chart) => chart.showCrosshairAt(bar ? bar.t : null));
    };
    this.chart.subscribeCrosshairMove(this.onCrosshair);
    this.onTimeRange = (range) => {
      if (!range) return;
      // What tests read: the span in view (chart time).
      this.el.dataset.visibleFrom = String(range.from);
      this.el.dataset.visibleTo = String(range.to);
      // A move that follows another chart's (now or in the next frame) is not passed back.
      const following = performance.now() - this.followedAt < FOLLOW_MS;
      if (linked.range && !following) others(this, (chart) => chart.showRange(range, this.atLive()));
    };
    this.chart.timeScale().subscribeVisibleTimeRangeChange(this.onTimeRange);
    charts.add(this);
    this.onRange = (range) => {
      if (!range) return;
      onScroll(range.to >= this.bars.length - 1.5);
      if (range.from < OLDER_MARGIN) this.loadOlder();
    };
    this.chart.timeScale().subscribeVisibleLogicalRangeChange(this.onRange);

    // Follow the page's theme, now and whenever <html data-theme> changes.
    this.applyTheme();
    this.themeObserver = new MutationObserver(() => this.applyTheme());
    this.themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
  }

  applyTheme() {
    const [muted, border, up, down, accent] = ["--muted", "--border", "--up", "--down", "--accent"].map(themeColor);
    if (!muted) return; // no stylesheet yet: keep the defaults
    this.chart.applyOptions({
      layout: { textColor: muted, panes: { separatorColor: border, separatorHoverColor: border } },
      grid: { vertLines: { color: border }, horzLines: { color: border } },
      rightPriceScale: { borderColor: border },
      timeScale: { borderColor: border },
    });
    this.candles.applyOptions({ upColor: up, downColor: down, borderUpColor: up, borderDownColor: down, wickUpColor: up, wickDownColor: down });
    this.line.applyOptions({ color: accent });
    this.area.applyOptions({ lineColor: accent });
  }

  /**
   * The clock labels are drawn in and the sessions bars are shaded by:
   * `offsetOf(ms)` gives minutes east of UTC (NaN: the viewer's own clock),
   * `sessionOf(ms)` a session code (0 regular, 1 pre-market, 2 after hours,
   * 3 closed), or null for a market without sessions.
   */
  setClock(offsetOf, sessionOf) {
    this.offsetOf = offsetOf;
    this.sessionOf = sessionOf;
    // Labels are drawn again with the new clock.
    this.chart.applyOptions({ localization: { timeFormatter: (time) => this.formatTime(time) } });
    this.fillShade();
  }

  /** `ms` as a Date whose UTC fields read the chosen clock. */
  wall(ms) {
    const offset = this.offsetOf ? this.offsetOf(ms) : NaN;
    const minutes = Number.isFinite(offset) ? offset : -new Date(ms).getTimezoneOffset();
    return new Date(ms + minutes * 60_000);
  }

  formatTime(time) {
    if (this.daily) {
      const d = new Date(time * 1000);
      return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
    }
    const d = this.wall(time * 1000);
    const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${this.seconds ? `:${pad(d.getUTCSeconds())}` : ""}`;
    return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${clock}`;
  }

  formatTick(time, type) {
    const d = this.daily ? new Date(time * 1000) : this.wall(time * 1000);
    switch (type) {
      case 0: // year
        return String(d.getUTCFullYear());
      case 1: // month
        return MONTHS[d.getUTCMonth()];
      case 2: // day of the month
        return String(d.getUTCDate());
      case 4: // time with seconds
        return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
      default:
        return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    }
  }

  /** Shades the bars outside the regular session (intraday bars of a market with sessions). */
  fillShade() {
    const sessionOf = this.sessionOf;
    const shaded = !sessionOf || this.daily ? [] : this.bars.map((b) => toShade(b, sessionOf));
    this.shade.setData(shaded);
    // What tests read: how many bars are shaded as outside the regular session.
    this.el.dataset.shaded = String(shaded.filter((s) => s.color).length);
  }

  indexOf(time) {
    let lo = 0;
    let hi = this.bars.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const t = chartTime(this.bars[mid].t, this.daily);
      if (t === time) return mid;
      if (t < time) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Puts the crosshair on the bar that holds `ms` (null: takes it away). */
  showCrosshairAt(ms) {
    let i = -1;
    if (ms !== null) {
      // The newest bar that starts at or before `ms`.
      let lo = 0;
      let hi = this.bars.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (this.bars[mid].t <= ms) {
          i = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
    }
    if (i < 0) {
      this.chart.clearCrosshairPosition();
      delete this.el.dataset.crosshair;
      return;
    }
    const bar = this.bars[i];
    this.chart.setCrosshairPosition(bar.c, chartTime(bar.t, this.daily), this.price());
    // What tests read: the bar the linked crosshair is on.
    this.el.dataset.crosshair = String(bar.t);
  }

  /** Whether the newest bar is in view. */
  atLive() {
    const range = this.chart.timeScale().getVisibleLogicalRange();
    return !range || range.to >= this.bars.length - 1.5;
  }

  /**
   * Shows the time range another chart shows (as far as there are bars);
   * if that one shows its newest bar, the same span up to this one's newest
   * (their newest bars start at different times when their intervals differ).
   */
  showRange(range, atLive) {
    if (!this.bars.length) return;
    this.followedAt = performance.now();
    const time = this.chart.timeScale();
    try {
      if (atLive) {
        const last = chartTime(this.bars[this.bars.length - 1].t, this.daily);
        time.setVisibleRange({ from: last - (range.to - range.from), to: last });
        time.scrollToPosition(time.options().rightOffset, false);
      } else {
        time.setVisibleRange(range);
      }
    } catch {
      // Nothing of this chart's in that range: it stays where it is.
    }
  }

  /** The price series of the current mode (the others are hidden and hold no live data). */
  price() {
    return { candles: this.candles, line: this.line, area: this.area }[this.mode] ?? this.candles;
  }

  /**
   * Scrolled near the oldest bar: asks for the bars before it, once per
   * oldest bar (never again for what it has), and adds them on the left
   * without moving the view. An empty answer means there is no older bar.
   */
  async loadOlder() {
    if (!this.bars.length || this.exhausted || this.asking) return;
    const first = this.bars[0].t;
    if (this.askedBefore === first) return;
    this.asking = true;
    this.askedBefore = first;
    const generation = this.generation;
    let json = null;
    try {
      json = await this.onOlder(first);
    } finally {
      this.asking = false;
    }
    if (generation !== this.generation) return; // another series meanwhile
    if (json === null) {
      this.askedBefore = undefined; // failed: a later scroll asks again
      return;
    }
    const older = JSON.parse(json).filter((b) => b.t < first);
    if (!older.length) {
      this.exhausted = true;
      this.el.dataset.exhausted = "true";
      return;
    }
    const view = this.chart.timeScale().getVisibleLogicalRange();
    this.bars = older.concat(this.bars);
    this.fillPrice();
    this.volume.setData(this.bars.map((b) => toVolume(b, this.daily)));
    this.fillShade();
    if (view) this.chart.timeScale().setVisibleLogicalRange({ from: view.from + older.length, to: view.to + older.length });
    this.publish();
  }

  /**
   * Replaces every bar (a new symbol or interval). `daily`: bars are days
   * (a daily bar starts at its trading day's midnight, which is within that
   * UTC date for every trading day tickertape knows), shown by date.
   */
  setData(json, secondsVisible, daily) {
    this.daily = daily;
    this.generation = (this.generation ?? 0) + 1;
    this.askedBefore = undefined;
    this.exhausted = false;
    delete this.el.dataset.exhausted;
    this.bars = JSON.parse(json);
    this.pending.clear();
    this.drawnTime = this.bars.length ? this.bars[this.bars.length - 1].t : -Infinity;
    this.chart.timeScale().applyOptions({ secondsVisible, timeVisible: !daily });
    this.seconds = secondsVisible;
    this.fillPrice();
    this.volume.setData(this.bars.map((b) => toVolume(b, this.daily)));
    this.fillShade();
    this.chart.timeScale().scrollToRealTime();
    this.publish();
  }

  /**
   * Takes one live bar: the newest is updated in place or a newer one
   * appended; a correction to an older bar updates it where it stands.
   * Never moves time backwards, never rebuilds the series. The bars are
   * current at once; the canvas follows within LIVE_EVERY_MS.
   */
  update(json) {
    const bar = JSON.parse(json);
    const last = this.bars[this.bars.length - 1];
    if (last && bar.t < last.t) {
      const i = this.bars.findLastIndex((b) => b.t === bar.t);
      if (i < 0 || bar.v < this.bars[i].v) return false;
      this.bars[i] = bar;
    } else if (last && bar.t === last.t) {
      if (bar.v < last.v) return false; // an older state of the same bar
      this.bars[this.bars.length - 1] = bar;
    } else {
      this.bars.push(bar);
    }
    this.pending.set(bar.t, bar);
    if (!toDraw.has(this) && performance.now() - this.lastFlush >= LIVE_EVERY_MS) {
      toDraw.add(this);
      if (!drawFrame) drawFrame = requestAnimationFrame(drawNext);
    }
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.draw(), QUIET_MS);
    this.publish();
    return true;
  }

  /** Hands the pending live bars to the series, oldest first. */
  draw() {
    toDraw.delete(this);
    if (this.pending.size === 0 && this.pendingStudies.size === 0) return;
    this.lastFlush = performance.now();
    const bars = [...this.pending.values()].sort((a, b) => a.t - b.t);
    this.pending.clear();
    for (const bar of bars) {
      const historical = bar.t < this.drawnTime;
      this.price().update(this.mode === "candles" ? toCandle(bar, this.daily) : toValue(bar, this.daily), historical);
      this.volume.update(toVolume(bar, this.daily), historical);
      if (this.sessionOf && !this.daily) this.shade.update(toShade(bar, this.sessionOf), historical);
      if (!historical) this.drawnTime = bar.t;
    }
    const points = [...this.pendingStudies.values()].sort((a, b) => a[1] - b[1]);
    this.pendingStudies.clear();
    for (const [line, t, value] of points) {
      try {
        this.studySeries[line]?.update({ time: chartTime(t, this.daily), value });
      } catch {
        // Older than the line's newest point: it keeps the newer one.
      }
    }
  }

  /** "candles", "line" or "area": only the shown series is fed, so a live bar costs one price update. */
  setMode(mode) {
    if (mode === this.mode && this.el.dataset.mode === mode) return;
    this.price().setData([]);
    this.mode = mode;
    this.candles.applyOptions({ visible: mode === "candles" });
    this.line.applyOptions({ visible: mode === "line" });
    this.area.applyOptions({ visible: mode === "area" });
    this.fillPrice();
    this.drawLevels();
    this.el.dataset.mode = mode;
  }

  /**
   * Indicators (JSON `[{pane, lines: [{colour, histogram, data: [[t, value], …]}]}]`):
   * pane 0 is the price's, each other a pane of its own below it. Replaces
   * the ones drawn; panes left empty go.
   */
  setStudies(json) {
    // Points of the lines being replaced are in what this draws.
    this.pendingStudies.clear();
    for (const series of this.studySeries) this.chart.removeSeries(series);
    this.studySeries = [];
    while (this.chart.panes().length > 1) this.chart.removePane(this.chart.panes().length - 1);
    const studies = JSON.parse(json);
    for (const { pane, lines } of studies) {
      for (const { colour, histogram, data } of lines) {
        const options = histogram
          ? { color: colour, priceLineVisible: false, lastValueVisible: false }
          : { color: colour, lineWidth: 1, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false };
        const series = this.chart.addSeries(histogram ? HistogramSeries : LineSeries, options, pane);
        series.setData(data.map(([t, value]) => ({ time: chartTime(t, this.daily), value })));
        this.studySeries.push(series);
      }
    }
    // The price keeps most of the height.
    this.chart.panes().forEach((p, i) => p.setStretchFactor(i === 0 ? 3 : 1));
    this.el.dataset.studies = String(studies.length);
    this.el.dataset.panes = String(this.chart.panes().length);
  }

  /**
   * Symbols compared with the charted one (JSON `[{colour, data: [[t, close], …]}]`):
   * lines on the price's scale, which then reads in percent from the first
   * bar in view, so every line starts level.
   */
  setCompare(json) {
    for (const series of this.compareSeries) this.chart.removeSeries(series);
    this.compareSeries = JSON.parse(json).map(({ colour, data }) => {
      const series = this.chart.addSeries(LineSeries, { color: colour, lineWidth: 2, priceLineVisible: false, crosshairMarkerVisible: false }, 0);
      series.setData(data.map(([t, value]) => ({ time: chartTime(t, this.daily), value })));
      return series;
    });
    const percent = this.compareSeries.length > 0;
    this.candles.priceScale().applyOptions({ mode: percent ? PriceScaleMode.Percentage : PriceScaleMode.Normal });
    this.el.dataset.compare = String(this.compareSeries.length);
    this.el.dataset.scale = percent ? "percent" : "price";
  }

  /** A compared symbol's newest close (its bar at `t`). */
  updateCompare(index, t, value) {
    try {
      this.compareSeries[index]?.update({ time: chartTime(t, this.daily), value });
    } catch {
      // Older than the line's newest point (a late trade): the line keeps its newer one.
    }
  }

  /** Live indicator points (JSON `[[line, t, value], …]`). */
  /** Indicator points of a live bar: drawn with the bar (see `update`). */
  updateStudies(json) {
    for (const point of JSON.parse(json)) this.pendingStudies.set(`${point[0]}:${point[1]}`, point);
  }

  /** Alert levels (JSON `[{price, title}]`), each drawn as a dashed line with its price on the axis. */
  setLevels(json) {
    this.levels = JSON.parse(json);
    this.drawLevels();
  }

  drawLevels() {
    for (const { series, line } of this.levelLines) series.removePriceLine(line);
    const series = this.price();
    this.levelLines = this.levels.map(({ price, title }) => ({
      series,
      line: series.createPriceLine({ price, title, color: ALERT, lineWidth: 1, lineStyle: LineStyle.Dashed, axisLabelVisible: true }),
    }));
    this.el.dataset.levels = String(this.levels.length);
  }

  fillPrice() {
    const to = this.mode === "candles" ? toCandle : toValue;
    this.price().setData(this.bars.map((b) => to(b, this.daily)));
  }

  /** Jumps (no animation: it must not depend on a busy page's frame rate) to the newest bar. */
  scrollToLive() {
    const time = this.chart.timeScale();
    time.scrollToPosition(time.options().rightOffset, false);
  }

  remove() {
    toDraw.delete(this);
    clearTimeout(this.quietTimer);
    this.themeObserver.disconnect();
    this.chart.unsubscribeCrosshairMove(this.onCrosshair);
    this.chart.timeScale().unsubscribeVisibleLogicalRangeChange(this.onRange);
    this.chart.timeScale().unsubscribeVisibleTimeRangeChange(this.onTimeRange);
    charts.delete(this);
    this.chart.remove();
  }

  // What tests read: the bar count, the time span, the newest bar.
  publish() {
    const last = this.bars[this.bars.length - 1];
    this.el.dataset.bars = String(this.bars.length);
    this.el.dataset.firstTime = this.bars.length ? String(this.bars[0].t) : "";
    this.el.dataset.lastTime = last ? String(last.t) : "";
    this.el.dataset.lastClose = last ? String(last.c) : "";
  }
}

function toCandle(b, daily) {
  return { time: chartTime(b.t, daily), open: b.o, high: b.h, low: b.l, close: b.c };
}

function toValue(b, daily) {
  return { time: chartTime(b.t, daily), value: b.c };
}

function toShade(b, sessionOf) {
  const color = SHADE[sessionOf(b.t)];
  return color ? { time: chartTime(b.t, false), value: 1, color } : { time: chartTime(b.t, false) };
}

function toVolume(b, daily) {
  return { time: chartTime(b.t, daily), value: b.v, color: b.c >= b.o ? UP_VOLUME : DOWN_VOLUME };
}
