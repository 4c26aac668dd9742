/* Window stage: block scaling and the Q15 periodic Hann window (see edgeser/frontend/window.py). */
#ifndef EF_WINDOW_H
#define EF_WINDOW_H

#include "ef_frontend.h"

/* frame[window_samples] -> x_w[window_samples]; returns the block shift (0..14). */
int ef_window_process(const ef_config *config, const ef_tables *tables, const int16_t *frame,
                      int16_t *x_w);

#endif
