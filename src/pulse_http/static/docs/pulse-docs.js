// Starts Swagger UI on the document named by the page (data-openapi-url), with nothing
// loaded from anywhere but this server: no validator badge, no external specs.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    displayRequestDuration: true,
    persistAuthorization: false,
    defaultModelsExpandDepth: 0,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
