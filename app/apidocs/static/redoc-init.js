// ReDoc bootstrap, loaded as a file so no inline script is needed.
(function () {
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapiUrl, {}, root);
})();
