/* Spectrum stage: two-pass fixed-point DFT and power (see edgeser/frontend/spectrum.py). */
#ifndef EF_SPECTRUM_H
#define EF_SPECTRUM_H

#include "ef_frontend.h"

/* work->x_w (window_samples values, the rest taken as zero) -> work->power[0 .. N/2]. */
void ef_spectrum_process(const ef_config *config, const ef_tables *tables, ef_work *work);

#endif
