"""Architecture-search building blocks shared by the papers: elastic widths and evolutionary search."""
