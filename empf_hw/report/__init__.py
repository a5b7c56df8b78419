"""Reports: tables, plots and the HTML / Markdown renderings of EM-PF against STBP."""
