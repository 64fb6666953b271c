/* Starts Swagger UI on /api/docs from the settings the page carries as JSON (no inline script,
   so the Content-Security-Policy needs no 'unsafe-inline'). Session calls send the CSRF token. */
(function () {
  "use strict";
  const body = document.querySelector("body").dataset;
  const config = JSON.parse(document.getElementById("swagger-settings").textContent);
  config.dom_id = "#swagger-ui";
  config.presets = [SwaggerUIBundle.presets.apis];
  config.layout = "BaseLayout";
  if (body.apiCsrf && body.csrfToken) {
    config.requestInterceptor = function (request) {
      request.headers["X-CSRFToken"] = body.csrfToken;
      return request;
    };
  }
  SwaggerUIBundle(config);
})();
