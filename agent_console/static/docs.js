/* The API reference at /docs: Swagger UI (served from node_modules at /vendor/swagger-ui) on /openapi.json. */
"use strict";
if (typeof window.SwaggerUIBundle === "function") {
  window.ui = window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
} else {
  document.getElementById("docs-missing").hidden = false;
}
