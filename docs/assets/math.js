// Typesets the equations that pymdownx.arithmatex (generic mode) left in the page: inline math as
// <span class="arithmatex">\(...\)</span>, display math as <div class="arithmatex">\[...\]</div>.
// KaTeX is served from docs/assets/katex/, so the pages need no network. Only .arithmatex elements are
// touched: a dollar sign anywhere else on a page (a shell prompt, a price) stays as it is.
// document$ is the Material theme's page-load signal (it also fires after instant navigation).
document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false, // a TeX error shows in red on the page (.katex-error), which check_site.py fails on
    });
  }
});
