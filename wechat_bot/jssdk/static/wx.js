/* wechat_bot's wx.js: include it after WeChat's jweixin. It has this page signed by the server
 * (GET /jssdk/config), calls wx.config, and gives the page one promise settled by wx.ready or wx.error:
 *
 *   <script src=".../jssdk/wx.js" data-apis="updateAppMessageShareData,chooseImage"></script>
 *   <script>wechatJssdk.ready.then(function (wx) { ... }, function (error) { console.log(error.errMsg); });</script>
 *
 * Optional: data-open-tags="wx-open-launch-weapp", data-debug="true", data-callback="name" (called as
 * name(error, wx), error null on success). A single-page app calls wechatJssdk.configure() after a route change.
 * Which URL is signed: on iOS, WeChat checks the URL the page landed on (pushState does not change it), so that one,
 * remembered for this document; elsewhere the current URL. Both without the #... part.
 * Register errors through this promise, not wx.error: jweixin keeps only the first wx.error handler, and calls
 * wx.ready even after a failed config.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var options = (script && script.dataset) || {};
  var configUrl = new URL("config", script ? script.src : location.href).href;
  var KEY = "wechat_bot.jssdk.landing";
  var TIMEOUT_MS = 15000;
  var ios = /iphone|ipad|ipod/i.test(navigator.userAgent);

  function here() { return location.href.split("#")[0]; }

  function landingUrl() {
    var documentId = String(performance.timeOrigin || (performance.timing && performance.timing.navigationStart) || "");
    try {
      var kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
      if (kept && kept.documentId === documentId) return kept.url;
    } catch (ignored) { /* storage off: fall through */ }
    var entry = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    var url = entry && entry.name ? entry.name.split("#")[0] : here();
    try { sessionStorage.setItem(KEY, JSON.stringify({documentId: documentId, url: url})); } catch (ignored) { /* off */ }
    return url;
  }

  var landing = landingUrl();

  function signedUrl() { return ios ? landing : here(); }

  function names(value) {
    if (Array.isArray(value)) return value;
    return String(value || "").split(",").map(function (name) { return name.trim(); }).filter(Boolean);
  }

  function failure(errMsg, details) {
    var error = new Error(errMsg);
    error.errMsg = errMsg;
    error.details = details || null;
    return error;
  }

  function fetchConfig(settings) {
    var query = new URLSearchParams({url: settings.url || signedUrl()});
    var apis = names(settings.apis), tags = names(settings.openTags);
    if (apis.length) query.set("apis", apis.join(","));
    if (tags.length) query.set("open_tags", tags.join(","));
    if (settings.debug) query.set("debug", "1");
    return fetch(configUrl + "?" + query.toString(), {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        return response.json().catch(function () { return {error: "HTTP " + response.status}; })
          .then(function (body) {
            if (!response.ok) throw failure("config:fail, " + (body.error || "HTTP " + response.status), body);
            return body;
          });
      }, function () { throw failure("config:fail, " + configUrl + " did not answer"); });
  }

  var attempt = null;
  var listening = false;

  function finish(error) {
    if (!attempt || attempt.done) return;
    attempt.done = true;
    if (error) attempt.reject(error); else attempt.resolve(window.wx);
  }

  function apply(config) {
    return new Promise(function (resolve, reject) {
      var wx = window.wx;
      if (!wx || typeof wx.config !== "function") {
        reject(failure("config:fail, jweixin is not loaded: include WeChat's jweixin before wx.js"));
        return;
      }
      attempt = {resolve: resolve, reject: reject, done: false};
      if (!listening) {
        wx.error(function (res) { finish(failure((res && res.errMsg) || "config:fail", res)); });
      }
      wx.config(config);
      if (!listening) {
        listening = true;
        wx.ready(function () { finish(null); });
      } else {
        // jweixin calls wx.ready once per page: a later config's outcome is the error, or the next call answering
        wx.checkJsApi({jsApiList: config.jsApiList.length ? config.jsApiList : ["checkJsApi"],
                       complete: function () { finish(null); }});
      }
      setTimeout(function () {
        finish(failure("config:fail, no answer from jweixin (outside WeChat it never answers)"));
      }, TIMEOUT_MS);
    });
  }

  var queue = Promise.resolve();

  function configure(settings) {
    var chosen = {
      apis: options.apis, openTags: options.openTags, debug: options.debug === "true", url: null
    };
    Object.keys(settings || {}).forEach(function (name) { chosen[name] = settings[name]; });
    var run = queue.then(function () { return fetchConfig(chosen).then(apply); });
    queue = run.catch(function () { return null; });
    return run;
  }

  var ready = configure();
  ready.then(function (wx) {
    if (options.callback && typeof window[options.callback] === "function") window[options.callback](null, wx);
  }, function (error) {
    if (window.console) console.warn("wechat_bot wx.js: " + error.errMsg);
    if (options.callback && typeof window[options.callback] === "function") window[options.callback](error, null);
  });

  window.wechatJssdk = {ready: ready, configure: configure, signedUrl: signedUrl, landingUrl: landing};
})();
