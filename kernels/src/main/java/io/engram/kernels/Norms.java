package io.engram.kernels;

/**
 * The Euclidean norm as {@link MemoryKernels#cosineSimilarityNormed} expects it stored: the sum of squares in f64
 * (no overflow or underflow for any finite f32 vector), its square root rounded to f32 once.
 */
public final class Norms {
    private Norms() {
    }

    /** The norm of {@code v[offset .. offset + dim - 1]}; NaN if an element is NaN, +Inf if one is infinite. */
    public static float of(float[] v, int offset, int dim) {
        if (v == null) {
            throw new IllegalArgumentException("vector must not be null");
        }
        if (dim < 0 || offset < 0 || offset > v.length - dim) {
            throw new IndexOutOfBoundsException("[" + offset + ", " + offset + "+" + dim + ") outside a vector of "
                    + v.length);
        }
        double sum = 0;
        for (int j = offset; j < offset + dim; j++) {
            sum += (double) v[j] * v[j];
        }
        return (float) Math.sqrt(sum);
    }

    /** The norm of all of {@code v}. */
    public static float of(float[] v) {
        return of(v, 0, v == null ? 0 : v.length);
    }

    /** The norms of the {@code rows} rows of a row-major matrix with {@code dim} columns, into a new array. */
    public static float[] ofRows(float[] matrix, int dim, int rows) {
        float[] out = new float[rows];
        for (int r = 0; r < rows; r++) {
            out[r] = of(matrix, r * dim, dim);
        }
        return out;
    }
}
