/* The sandbox's stand-in for WeChat's jweixin-1.6.0.js: window.wx (and window.jWeixin) for a desktop browser.
 *
 * wx.config is checked as WeChat's client checks it, by the sandbox (POST api/jssdk/verify): the page's domain
 * against the sandbox account's JS接口安全域名, the signature against its live jsapi_tickets, over the URL WeChat
 * looks at (on iOS the URL the page landed on, pushState notwithstanding; elsewhere the current one), without #.
 * Like jweixin: wx.ready runs once the check is done, even after a failure (and at once if it is already done);
 * wx.error keeps only the first handler; an API answers "<name>:permission denied" unless the config passed and
 * named it in jsApiList. A few APIs answer plausibly: getNetworkType, getLocation (the sandbox user's last
 * location sent in chat), chooseImage (an image drawn here), scanQRCode (type what the code says), the share
 * APIs (shown in the bar at the bottom of the page), checkJsApi, and a few no-ops.
 */
(function (window, document) {
  "use strict";
  if (window.jWeixin) return;
  var script = document.currentScript;
  var verifyUrl = new URL("api/jssdk/verify", script.src).href;
  var locationUrl = new URL("api/jssdk/location", script.src).href;
  var ua = navigator.userAgent.toLowerCase();
  var ios = ua.indexOf("iphone") !== -1 || ua.indexOf("ipad") !== -1;
  var entry = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
  var landing = ((entry && entry.name) || location.href).split("#")[0];

  var settings = {}, state = 0, data = {}, completes = [], failHandler = null, errorTaken = false;
  var passed = false, granted = [], verification = Promise.resolve();
  var shared = {};

  function checkedUrl() { return ios ? landing : location.href.split("#")[0]; }

  function bar() {
    var element = document.getElementById("wx-sandbox-bar");
    if (!element && document.body) {
      element = document.createElement("div");
      element.id = "wx-sandbox-bar";
      element.style.cssText = "position:fixed;left:0;right:0;bottom:0;z-index:2147483647;padding:4px 10px;" +
        "font:12px/1.5 -apple-system,'PingFang SC','Noto Sans CJK SC',sans-serif;color:#fff;" +
        "background:rgba(0,0,0,.62);pointer-events:none;word-break:break-all";
      document.body.appendChild(element);
    }
    return element;
  }

  function show() {
    var element = bar();
    if (!element) { document.addEventListener("DOMContentLoaded", show); return; }
    var parts = ["沙箱 JS-SDK：" + (data.errMsg || "未调用 wx.config")];
    if (shared.appMessage) parts.push("分享给朋友：" + shared.appMessage.title);
    if (shared.timeline) parts.push("分享到朋友圈：" + shared.timeline.title);
    element.textContent = parts.join(" · ");
    element.setAttribute("data-state", passed ? "ok" : (state === 0 ? "pending" : "fail"));
  }

  function debugAlert(res) { if (settings.debug) window.alert(JSON.stringify(res)); }

  function config(options) {
    settings = options || {};
    verification = fetch(verifyUrl, {
      method: "POST", headers: {"Content-Type": "application/json"}, credentials: "same-origin",
      body: JSON.stringify({appId: settings.appId, timestamp: settings.timestamp, nonceStr: settings.nonceStr,
                            signature: settings.signature, jsApiList: settings.jsApiList || [],
                            openTagList: settings.openTagList || [], url: checkedUrl()})
    }).then(function (response) { return response.json(); })
      .catch(function () { return {errMsg: "config:fail, the sandbox did not answer"}; })
      .then(function (res) {
        passed = res.errMsg === "config:ok";
        granted = passed ? (settings.jsApiList || []).slice() : [];
        state = 1;
        data = res;
        debugAlert(res);
        show();
        if (!passed) { if (failHandler) failHandler(res); else state = -1; }
        var waiting = completes;
        completes = [];
        waiting.forEach(function (fn) { fn(); });
      });
  }

  function ready(fn) { if (state !== 0) fn(); else completes.push(fn); }

  function error(fn) {
    if (errorTaken) return;
    errorTaken = true;
    if (state === -1) fn(data); else failHandler = fn;
  }

  function answer(name, args, res) {
    var verdict = res.errMsg.slice(name.length + 1);
    debugAlert(res);
    if (verdict === "ok") { if (args.success) args.success(res); }
    else if (verdict === "cancel") { if (args.cancel) args.cancel(res); }
    else if (args.fail) args.fail(res);
    if (args.complete) args.complete(res);
  }

  function api(name, run, always) {
    return function (args) {
      args = args || {};
      verification.then(function () {
        if (!always && (!passed || granted.indexOf(name) === -1)) {
          answer(name, args, {errMsg: name + ":permission denied"});
          return;
        }
        Promise.resolve(run ? run(args) : {}).then(function (res) {
          res = res || {};
          if (!res.errMsg) res.errMsg = name + ":ok";
          answer(name, args, res);
        });
      });
    };
  }

  function share(kind) {
    return function (args) {
      shared[kind] = {title: args.title || document.title, desc: args.desc || "", link: args.link || location.href,
                      imgUrl: args.imgUrl || ""};
      show();
    };
  }

  function drawImage() {
    var canvas = document.createElement("canvas");
    canvas.width = 480; canvas.height = 360;
    var context = canvas.getContext("2d"), hue = Math.floor(Math.random() * 360);
    var gradient = context.createLinearGradient(0, 0, 480, 360);
    gradient.addColorStop(0, "hsl(" + hue + ",60%,55%)");
    gradient.addColorStop(1, "hsl(" + ((hue + 80) % 360) + ",60%,40%)");
    context.fillStyle = gradient;
    context.fillRect(0, 0, 480, 360);
    context.fillStyle = "#fff";
    context.font = "32px 'PingFang SC','Noto Sans CJK SC',sans-serif";
    context.textAlign = "center";
    context.fillText("沙箱照片", 240, 170);
    context.font = "20px sans-serif";
    context.fillText(new Date().toLocaleString(), 240, 210);
    return canvas.toDataURL("image/jpeg", 0.85);
  }

  function scan(args) {
    return new Promise(function (resolve) {
      var sheet = document.createElement("div");
      sheet.id = "wx-sandbox-scan";
      sheet.style.cssText = "position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.6);display:flex;" +
        "align-items:center;justify-content:center;font:15px -apple-system,'PingFang SC','Noto Sans CJK SC',sans-serif";
      sheet.innerHTML = '<div style="background:#fff;border-radius:12px;padding:16px;width:80%;max-width:320px">' +
        '<div style="font-weight:600;margin-bottom:8px">扫一扫（沙箱）</div>' +
        '<input style="width:100%;box-sizing:border-box;font-size:15px;padding:8px" placeholder="二维码的内容：网址或文字">' +
        '<div style="display:flex;gap:8px;justify-content:flex-end;margin-top:12px">' +
        '<button type="button" data-choice="cancel">取消</button><button type="button" data-choice="ok">确定</button>' +
        "</div></div>";
      document.body.appendChild(sheet);
      var input = sheet.querySelector("input");
      input.focus();
      sheet.onclick = function (event) {
        var choice = event.target.getAttribute("data-choice");
        if (!choice) return;
        sheet.remove();
        if (choice === "cancel") { resolve({errMsg: "scanQRCode:cancel"}); return; }
        var text = input.value;
        if (Number(args.needResult) === 1) { resolve({resultStr: text, errMsg: "scanQRCode:ok"}); return; }
        if (/^https?:\/\//.test(text)) window.location.href = text;
        resolve({errMsg: "scanQRCode:ok"});
      };
    });
  }

  function getLocation() {
    return fetch(locationUrl, {credentials: "same-origin"}).then(function (response) { return response.json(); })
      .then(function (place) {
        return {latitude: place.latitude, longitude: place.longitude, speed: place.speed, accuracy: place.accuracy};
      }, function () { return {errMsg: "getLocation:fail"}; });
  }

  var noop = null;
  var wx = {
    config: config, ready: ready, error: error,
    checkJsApi: api("checkJsApi", function (args) {
      var result = {};
      (args.jsApiList || []).forEach(function (name) { result[name] = typeof wx[name] === "function"; });
      return {checkResult: result};
    }, true),
    updateAppMessageShareData: api("updateAppMessageShareData", share("appMessage")),
    updateTimelineShareData: api("updateTimelineShareData", share("timeline")),
    onMenuShareAppMessage: api("onMenuShareAppMessage", share("appMessage")),
    onMenuShareTimeline: api("onMenuShareTimeline", share("timeline")),
    getNetworkType: api("getNetworkType", function () { return {networkType: "wifi"}; }),
    getLocation: api("getLocation", getLocation),
    openLocation: api("openLocation", noop),
    chooseImage: api("chooseImage", function () { return {localIds: [drawImage()], sourceType: "album"}; }),
    getLocalImgData: api("getLocalImgData", function (args) {
      return {localData: String(args.localId || "").split(",")[1] || ""};
    }),
    previewImage: api("previewImage", noop),
    scanQRCode: api("scanQRCode", scan),
    closeWindow: api("closeWindow", noop),
    hideMenuItems: api("hideMenuItems", noop),
    showMenuItems: api("showMenuItems", noop),
    hideOptionMenu: api("hideOptionMenu", noop),
    showOptionMenu: api("showOptionMenu", noop),
    hideAllNonBaseMenuItem: api("hideAllNonBaseMenuItem", noop),
    showAllNonBaseMenuItem: api("showAllNonBaseMenuItem", noop)
  };
  window.wx = window.jWeixin = wx;
  show();
})(window, document);
