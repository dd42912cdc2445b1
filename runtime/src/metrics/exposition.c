/* Rendering a registry in the Prometheus text format, version 0.0.4. */
#include <stdlib.h>

#include "cplugin/errors.h"
#include "metrics/metrics_internal.h"
#include "metrics/textbuf.h"

static const char *type_name(cp_metric_type type) {
  switch (type) {
    case CP_METRIC_COUNTER:
      return "counter";
    case CP_METRIC_GAUGE:
      return "gauge";
    case CP_METRIC_HISTOGRAM:
      return "histogram";
  }
  return "untyped";
}

/* {a="x",b="y"} plus le="..." for buckets; nothing when both are absent. */
static void write_labels(cp_textbuf *b, const cp_metric_family *f,
                         const cp_series *s, const char *le) {
  if (f->label_count == 0 && le == NULL) {
    return;
  }
  cpi_textbuf_puts(b, "{");
  for (size_t i = 0; i < f->label_count; i++) {
    if (i > 0) {
      cpi_textbuf_puts(b, ",");
    }
    cpi_textbuf_puts(b, f->label_names[i]);
    cpi_textbuf_puts(b, "=\"");
    cpi_textbuf_label_value(b, s->values[i]);
    cpi_textbuf_puts(b, "\"");
  }
  if (le != NULL) {
    cpi_textbuf_puts(b, f->label_count > 0 ? ",le=\"" : "le=\"");
    cpi_textbuf_puts(b, le);
    cpi_textbuf_puts(b, "\"");
  }
  cpi_textbuf_puts(b, "}");
}

static void write_sample_start(cp_textbuf *b, const cp_metric_family *f,
                               const cp_series *s, const char *suffix,
                               const char *le) {
  cpi_textbuf_puts(b, f->name);
  cpi_textbuf_puts(b, suffix);
  write_labels(b, f, s, le);
  cpi_textbuf_puts(b, " ");
}

static void write_histogram(cp_textbuf *b, const cp_metric_family *f,
                            const cp_series *s) {
  /* Buckets first and the count derived from them, so that the +Inf bucket
   * always equals _count even while observations land during the scrape. */
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= f->bound_count; i++) {
    cumulative += cpi_series_cell_sum(s, i);
    if (i < f->bound_count) {
      char le[CP_METRIC_VALUE_CHARS];
      int64_t bound = f->bounds[i];
      cpi_metric_format(
          le, bound < 0,
          bound < 0 ? (uint64_t)0 - (uint64_t)bound : (uint64_t)bound, f->unit);
      write_sample_start(b, f, s, "_bucket", le);
    } else {
      write_sample_start(b, f, s, "_bucket", "+Inf");
    }
    cpi_textbuf_u64(b, cumulative, CP_METRIC_UNIT_NONE);
    cpi_textbuf_puts(b, "\n");
  }
  write_sample_start(b, f, s, "_sum", NULL);
  cpi_textbuf_u64(b, cpi_series_cell_sum(s, f->bound_count + 1), f->unit);
  cpi_textbuf_puts(b, "\n");
  write_sample_start(b, f, s, "_count", NULL);
  cpi_textbuf_u64(b, cumulative, CP_METRIC_UNIT_NONE);
  cpi_textbuf_puts(b, "\n");
}

static void write_series(cp_textbuf *b, const cp_metric_family *f,
                         const cp_series *s) {
  if (f->type == CP_METRIC_HISTOGRAM) {
    write_histogram(b, f, s);
    return;
  }
  write_sample_start(b, f, s, "", NULL);
  if (f->type == CP_METRIC_COUNTER) {
    cpi_textbuf_u64(b, cp_counter_value((const cp_counter *)s), f->unit);
  } else {
    cpi_textbuf_i64(b, cp_gauge_value((const cp_gauge *)s), f->unit);
  }
  cpi_textbuf_puts(b, "\n");
}

static void write_family(cp_textbuf *b, const cp_metric_family *f) {
  size_t n = atomic_load_explicit(&f->series_count, memory_order_acquire);
  bool overflow =
      f->overflow != NULL &&
      atomic_load_explicit(&f->overflow->used, memory_order_relaxed);
  if (n == 0 && !overflow) {
    return;
  }
  cpi_textbuf_puts(b, "# HELP ");
  cpi_textbuf_puts(b, f->name);
  cpi_textbuf_puts(b, " ");
  cpi_textbuf_help(b, f->help);
  cpi_textbuf_puts(b, "\n# TYPE ");
  cpi_textbuf_puts(b, f->name);
  cpi_textbuf_puts(b, " ");
  cpi_textbuf_puts(b, type_name(f->type));
  cpi_textbuf_puts(b, "\n");
  for (size_t i = 0; i < n; i++) {
    write_series(b, f, f->series[i]);
  }
  if (overflow) {
    write_series(b, f, f->overflow);
  }
}

int cp_metric_registry_render(cp_metric_registry *registry, char **text,
                              size_t *len) {
  if (text != NULL) {
    *text = NULL;
  }
  if (len != NULL) {
    *len = 0;
  }
  if (registry == NULL || text == NULL) {
    return CP_EINVAL;
  }
  cp_textbuf b;
  cpi_textbuf_init(&b);
  cpi_textbuf_put(&b, "", 0); /* an empty registry still yields "" */
  for (cp_metric_family *f =
           atomic_load_explicit(&registry->first, memory_order_acquire);
       f != NULL; f = atomic_load_explicit(&f->next, memory_order_acquire)) {
    write_family(&b, f);
  }
  if (b.failed) {
    cpi_textbuf_free(&b);
    return CP_ENOMEM;
  }
  *text = b.data;
  if (len != NULL) {
    *len = b.len;
  }
  return 0;
}

void cp_metric_text_free(char *text) {
  free(text);
}
