package io.engram.kernels;

import java.util.Random;

/** Random inputs for the differential tests, with the awkward values mixed in on purpose. */
final class Gen {
    static final float[] SPECIAL = {
        0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, 1e-40f, Float.MIN_NORMAL, Float.NaN,
        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MAX_VALUE, -Float.MAX_VALUE, 1e20f, -1e-20f
    };

    private Gen() {
    }

    /** Gaussian floats; with probability {@code specialRate} per element, one of {@link #SPECIAL}. */
    static float[] floats(Random r, int n, double specialRate) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextDouble() < specialRate ? SPECIAL[r.nextInt(SPECIAL.length)] : (float) r.nextGaussian();
        }
        return v;
    }

    /** Dims that stress the SIMD tails: mostly small and around multiples of 8, sometimes up to 4096. */
    static int dim(Random r) {
        switch (r.nextInt(4)) {
            case 0:
                return 1 + r.nextInt(17);
            case 1:
                return 8 * (1 + r.nextInt(16)) + r.nextInt(3) - 1;
            case 2:
                return 1 + r.nextInt(1024);
            default:
                return 1 + r.nextInt(4096);
        }
    }
}
