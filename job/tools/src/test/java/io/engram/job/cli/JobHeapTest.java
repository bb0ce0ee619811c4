package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class JobHeapTest {
    @Test
    void sizesAsXmxTakesThem() {
        assertThat(JobHeap.parse(null)).isEqualTo(new JobHeap(2L << 30, "2g", false));
        assertThat(JobHeap.parse("768m").bytes()).isEqualTo(768L << 20);
        assertThat(JobHeap.parse("4G").bytes()).isEqualTo(4L << 30);
        assertThat(JobHeap.parse("1048576k").bytes()).isEqualTo(1L << 30);
        assertThat(JobHeap.parse("536870912").bytes()).isEqualTo(512L << 20);
        for (String bad : new String[] {"2gb", "lots", "-1g", "", "1.5g", "99999999999999999999g"}) {
            assertThatThrownBy(() -> JobHeap.parse(bad)).as(bad).isInstanceOf(CliException.class)
                    .hasMessageContaining("--job-heap");
        }
        assertThatThrownBy(() -> JobHeap.parse("100m")).hasMessageContaining("at least 256m");
    }

    @Test
    void theBannerSaysWhereTheHeapCameFromAndWhenTheJvmDidNotGetIt() {
        JobHeap given = JobHeap.parse("768m");
        assertThat(given.describe(768L << 20)).isEqualTo("768 MiB (--job-heap 768m)");
        assertThat(given.describe((768L << 20) - (20L << 20))).as("one survivor space less").startsWith("768 MiB");
        assertThat(JobHeap.parse(null).describe(2L << 30)).isEqualTo("2 GiB (default 2g, set with --job-heap)");
        assertThat(given.describe(6L << 30)).startsWith("6 GiB -- NOT the requested 768 MiB (--job-heap 768m)")
                .contains("./engram");
    }
}
