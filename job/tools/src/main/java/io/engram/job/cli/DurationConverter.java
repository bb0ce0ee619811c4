package io.engram.job.cli;

import java.time.Duration;
import org.apache.flink.util.TimeUtils;
import picocli.CommandLine;

/** Durations with a unit, as Flink writes them: {@code 90s}, {@code 500ms}, {@code 2min}, {@code 1h}. */
public final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
        return parse(value);
    }

    public static Duration parse(String value) {
        String v = value == null ? "" : value.trim();
        if (v.isEmpty() || v.chars().allMatch(Character::isDigit)) {
            throw new CommandLine.TypeConversionException("'" + value + "' needs a unit, e.g. 90s, 500ms, 2min, 1h");
        }
        Duration d;
        try {
            d = TimeUtils.parseDuration(v);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new CommandLine.TypeConversionException("'" + value + "' is not a duration (e.g. 90s, 500ms, 2min, "
                    + "1h)");
        }
        if (d.isNegative() || d.isZero()) {
            throw new CommandLine.TypeConversionException("'" + value + "' must be positive");
        }
        return d;
    }

    /** A duration the way a person reads it: 90s, 2min 5s, 1h. */
    public static String format(Duration d) {
        return TimeUtils.formatWithHighestUnit(d).replace(" ", "");
    }
}
