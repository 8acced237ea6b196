/* Serve a raw-text SavedModel from C, with no Python in the process.
 *
 * TF Serving is a C++ process: it loads an export with TensorFlow's C++
 * SavedModel loader and runs signatures by tensor name. This probe does the
 * same through the C API of the tensorflow wheel (TF_LoadSessionFromSavedModel,
 * TF_SessionRun), registers TF-Text's kernels with TF_LoadLibrary, and reports
 * what a serving process costs: load time, resident memory and per-request
 * latency. benchmarks/native_serving.py builds and drives it.
 *
 *   serve_probe --export DIR --input OP:0 --output OP:0 --texts FILE
 *               [--op-library SO]... [--batch 32] [--repeats 1] [--warmup 1]
 *               [--intra-threads 0] [--inter-threads 0] [--print-outputs]
 *
 * FILE holds one UTF-8 text per line. Output: one JSON object on stdout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tensorflow/c/c_api.h"
#include "tensorflow/c/tf_tstring.h"

#define MAX_LIBRARIES 64

static void die(const char *what, const char *detail) {
  fprintf(stderr, "serve_probe: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(2);
}

static void check(TF_Status *status, const char *what) {
  if (TF_GetCode(status) != TF_OK) die(what, TF_Message(status));
}

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static double rss_mb(void) {
  /* Current resident set: /proc/self/statm's second field, in pages. */
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  if (f) fclose(f);
  return resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* Peak resident set of this process image: VmHWM in /proc/self/status. Not
 * getrusage's ru_maxrss, which Linux carries over from the parent across
 * fork and exec, so a child of a large process would report the parent's size. */
static double peak_rss_mb(void) {
  char line[256];
  double kib = 0;
  FILE *f = fopen("/proc/self/status", "r");
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "VmHWM: %lf", &kib) == 1) break;
  if (f) fclose(f);
  return kib / 1024.0;
}

static TF_Output tensor_by_name(TF_Graph *graph, const char *name) {
  char op[512];
  const char *colon = strrchr(name, ':');
  size_t length = colon ? (size_t)(colon - name) : strlen(name);
  if (length >= sizeof(op)) die("tensor name too long", name);
  memcpy(op, name, length);
  op[length] = '\0';
  TF_Output output = {TF_GraphOperationByName(graph, op), colon ? atoi(colon + 1) : 0};
  if (!output.oper) die("no such operation in the graph", op);
  return output;
}

/* Reads FILE into an array of lines (newline stripped). */
static char **read_lines(const char *path, int *count) {
  FILE *f = fopen(path, "r");
  if (!f) die("cannot open the texts file", path);
  int capacity = 1024, n = 0;
  char **lines = malloc(capacity * sizeof(char *));
  char *line = NULL;
  size_t size = 0;
  ssize_t got;
  while ((got = getline(&line, &size, f)) >= 0) {
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
    if (n == capacity) lines = realloc(lines, (capacity *= 2) * sizeof(char *));
    lines[n++] = strdup(line);
  }
  free(line);
  fclose(f);
  if (n == 0) die("the texts file is empty", path);
  *count = n;
  return lines;
}

static TF_Tensor *string_batch(char **texts, int count) {
  int64_t dims[1] = {count};
  TF_Tensor *tensor = TF_AllocateTensor(TF_STRING, dims, 1, count * sizeof(TF_TString));
  TF_TString *items = (TF_TString *)TF_TensorData(tensor);
  for (int i = 0; i < count; i++) {
    TF_StringInit(&items[i]);
    TF_StringCopy(&items[i], texts[i], strlen(texts[i]));
  }
  return tensor;
}

static void free_string_batch(TF_Tensor *tensor, int count) {
  TF_TString *items = (TF_TString *)TF_TensorData(tensor);
  for (int i = 0; i < count; i++) TF_StringDealloc(&items[i]);
  TF_DeleteTensor(tensor);
}

/* ConfigProto with intra_op_parallelism_threads (field 2) and
 * inter_op_parallelism_threads (field 5): TF Serving's thread flags. */
static void set_threads(TF_SessionOptions *options, int intra, int inter, TF_Status *status) {
  unsigned char proto[8];
  size_t length = 0;
  if (intra > 127 || inter > 127) die("thread counts above 127 are not supported", NULL);
  if (intra > 0) { proto[length++] = 0x10; proto[length++] = (unsigned char)intra; }
  if (inter > 0) { proto[length++] = 0x28; proto[length++] = (unsigned char)inter; }
  if (length) {
    TF_SetConfig(options, proto, length, status);
    check(status, "TF_SetConfig");
  }
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const char *export_dir = NULL, *input_name = NULL, *output_name = NULL, *texts_path = NULL;
  const char *libraries[MAX_LIBRARIES];
  int library_count = 0, batch = 32, repeats = 1, warmup = 1, intra = 0, inter = 0, print_outputs = 0;
  for (int i = 1; i < argc; i++) {
    const char *flag = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(flag, "--print-outputs")) { print_outputs = 1; continue; }
    if (!value) die("missing value after", flag);
    i++;
    if (!strcmp(flag, "--export")) export_dir = value;
    else if (!strcmp(flag, "--input")) input_name = value;
    else if (!strcmp(flag, "--output")) output_name = value;
    else if (!strcmp(flag, "--texts")) texts_path = value;
    else if (!strcmp(flag, "--batch")) batch = atoi(value);
    else if (!strcmp(flag, "--repeats")) repeats = atoi(value);
    else if (!strcmp(flag, "--warmup")) warmup = atoi(value);
    else if (!strcmp(flag, "--intra-threads")) intra = atoi(value);
    else if (!strcmp(flag, "--inter-threads")) inter = atoi(value);
    else if (!strcmp(flag, "--op-library")) {
      if (library_count == MAX_LIBRARIES) die("too many --op-library flags", NULL);
      libraries[library_count++] = value;
    } else die("unknown flag", flag);
  }
  if (!export_dir || !input_name || !output_name || !texts_path)
    die("usage: serve_probe --export DIR --input OP:0 --output OP:0 --texts FILE", NULL);
  if (batch < 1 || repeats < 1 || warmup < 0) die("--batch and --repeats must be >= 1", NULL);

  int text_count = 0;
  char **texts = read_lines(texts_path, &text_count);
  double rss_start = rss_mb();

  TF_Status *status = TF_NewStatus();
  for (int i = 0; i < library_count; i++) {
    TF_Library *library = TF_LoadLibrary(libraries[i], status);
    check(status, libraries[i]);
    (void)library; /* Kept loaded for the life of the process, like TF Serving's custom ops. */
  }
  double rss_libraries = rss_mb();

  double load_start = now_seconds();
  TF_Graph *graph = TF_NewGraph();
  TF_SessionOptions *options = TF_NewSessionOptions();
  set_threads(options, intra, inter, status);
  const char *tags[1] = {"serve"};
  TF_Session *session =
      TF_LoadSessionFromSavedModel(options, NULL, export_dir, tags, 1, graph, NULL, status);
  check(status, "TF_LoadSessionFromSavedModel");
  double load_seconds = now_seconds() - load_start;
  double rss_loaded = rss_mb();
  TF_Output feed = tensor_by_name(graph, input_name);
  TF_Output fetch = tensor_by_name(graph, output_name);

  int requests_per_pass = (text_count + batch - 1) / batch;
  int timed = requests_per_pass * repeats;
  double *latencies = malloc(timed * sizeof(double));
  if (print_outputs) printf("{\"outputs\": [");
  int printed = 0;
  for (int pass = -warmup; pass < repeats; pass++) {
    for (int r = 0; r < requests_per_pass; r++) {
      int start = r * batch;
      int count = start + batch <= text_count ? batch : text_count - start;
      double t0 = now_seconds();
      TF_Tensor *input = string_batch(texts + start, count);
      TF_Tensor *output = NULL;
      TF_SessionRun(session, NULL, &feed, &input, 1, &fetch, &output, 1, NULL, 0, NULL, status);
      check(status, "TF_SessionRun");
      double elapsed = now_seconds() - t0;
      if (pass >= 0) latencies[pass * requests_per_pass + r] = elapsed;
      if (print_outputs && pass == 0) {
        if (TF_TensorType(output) != TF_FLOAT) die("--print-outputs needs a float output", output_name);
        const float *values = (const float *)TF_TensorData(output);
        int64_t total = TF_TensorElementCount(output);
        int64_t width = total / count;
        for (int row = 0; row < count; row++) {
          printf("%s[", printed++ ? ", " : "");
          for (int64_t c = 0; c < width; c++) printf("%s%.9g", c ? ", " : "", values[row * width + c]);
          printf("]");
        }
      }
      free_string_batch(input, count);
      TF_DeleteTensor(output);
    }
  }
  /* texts/s of the fastest pass, like the Python benchmarks' best-of timing. */
  double total_seconds = 0, best_pass = 0;
  for (int pass = 0; pass < repeats; pass++) {
    double seconds = 0;
    for (int r = 0; r < requests_per_pass; r++) seconds += latencies[pass * requests_per_pass + r];
    total_seconds += seconds;
    if (pass == 0 || seconds < best_pass) best_pass = seconds;
  }
  qsort(latencies, timed, sizeof(double), compare_doubles);
  printf("%s\"texts\": %d, \"batch\": %d, \"repeats\": %d, \"requests\": %d, "
         "\"texts_per_second\": %.3f, \"best_pass_texts_per_second\": %.3f, \"p50_ms\": %.4f, \"p99_ms\": %.4f, "
         "\"load_seconds\": %.3f, \"rss_start_mb\": %.1f, \"rss_libraries_mb\": %.1f, "
         "\"rss_loaded_mb\": %.1f, \"rss_end_mb\": %.1f, \"peak_rss_mb\": %.1f}\n",
         print_outputs ? "], " : "{", text_count, batch, repeats, timed,
         text_count * repeats / total_seconds, text_count / best_pass, 1e3 * latencies[timed / 2],
         1e3 * latencies[(int)(0.99 * (timed - 1))], load_seconds, rss_start, rss_libraries,
         rss_loaded, rss_mb(), peak_rss_mb());

  TF_CloseSession(session, status);
  TF_DeleteSession(session, status);
  TF_DeleteSessionOptions(options);
  TF_DeleteGraph(graph);
  TF_DeleteStatus(status);
  return 0;
}
